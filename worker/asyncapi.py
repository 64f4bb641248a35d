"""The AsyncAPI document of the service's streams, generated from the domain's own types.

`python -m worker.asyncapi` writes docs/asyncapi.json; `--check` fails when that file is not current (CI).
FastStream's generator is not used: the workers read raw stream fields, which it cannot describe, and it
names host-specific consumers.
"""

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from domain.commands import CommandType
from domain.fixtures import Fixture, Participant, Ref
from domain.incidents import Incident
from domain.messages import Header, HeaderOnly, KeepAlive, RecoveryDone, SnapshotComplete
from domain.scoreboard import PeriodScore, Result, Statistic
from domain.streams import (
    COMMANDS_STREAM,
    DEAD_LETTERS_STREAM,
    FIXTURE_UPDATES_STREAM,
    INCIDENT_DEAD_LETTERS_STREAM,
    INCIDENTS_STREAM,
    WORKERS_GROUP,
    fixtures_queue,
    incidents_queue,
)

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"


class CommandEntry(msgspec.Struct, rename="camel"):
    """The fields of an entry of the commands stream (all values are strings). Never a password."""

    command_id: str
    type: CommandType
    package_id: str
    requested_at: str
    # Snapshot and recovery only: echoed in every message they send.
    request_id: str | None = None
    # Recovery only, when given: the incidents appended after this time (ISO-8601 UTC) are recovered.
    after: str | None = None
    # Activation only: the Pub/Sub channel of the ingress process waiting for the outcome.
    reply_to: str | None = None
    # Set when the service itself deactivates a package, e.g. "queue-limit".
    reason: str | None = None


class FixtureMessage(msgspec.Struct):
    header: Header
    body: Fixture


class CompletionMessage(msgspec.Struct):
    header: Header
    body: SnapshotComplete


class IncidentMessage(msgspec.Struct):
    """An incident (MessageType 2). Upstream the header carries MessageId, Timestamp and MessageType;
    in a package's incidents queue it also names the fixture: FixtureId, LeagueId, SportId. Sent again by
    a recovery, it carries `"Recovered": true` and the recovery's RequestId (same body, fresh MessageId)."""

    header: Header
    body: Incident


class ScoreboardFixture(msgspec.Struct):
    startDate: str
    sport: Ref
    league: Ref
    location: Ref
    participants: list[Participant]


class ScoreboardBody(msgspec.Struct):
    """A fixture's live state (SPEC §12), built from its incidents in order and its fixture updates."""

    fixtureId: int
    status: int
    fixture: ScoreboardFixture
    period: Ref | None
    seconds: int | None
    # The match score: per position the sum over the periods, or sets won for sports in sets.
    results: list[Result]
    periods: list[PeriodScore]
    statistics: list[Statistic]
    lastIncidentId: int | None
    updated: str


class ScoreboardMessage(msgspec.Struct):
    """MessageType 4, on the incidents queue: the initial image on activation, recovery (then with the
    recovery's RequestId), and what `POST /api/livescore/fixtures/live` answers (its bodies)."""

    header: Header
    body: ScoreboardBody


class RecoveryDoneMessage(msgspec.Struct):
    """MessageType 101, on the incidents queue: the last message of a recovery, with what it sent
    (fixtureCount scoreboards, incidentCount recovered incidents)."""

    header: Header
    body: RecoveryDone


class KeepAliveMessage(msgspec.Struct):
    """MessageType 31, on the fixtures queue: the package's fixtures in progress or about to start."""

    header: Header
    body: KeepAlive


class HeartbeatMessage(HeaderOnly, frozen=True):
    """MessageType 32, on the incidents queue: a header and no body at all."""


class QueueEntry(msgspec.Struct):
    """An entry of a package's queue or of a feed's stream: one field holding UTF-8 JSON."""

    message: str


class IncidentDeadLetter(msgspec.Struct):
    """An incident that could not be delivered: its entry's field, the original entry id, why, when."""

    message: str
    originalId: str
    error: str
    deadLetteredAt: str


def document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [
            CommandEntry,
            FixtureMessage,
            CompletionMessage,
            QueueEntry,
            IncidentMessage,
            ScoreboardMessage,
            RecoveryDoneMessage,
            KeepAliveMessage,
            HeartbeatMessage,
            IncidentDeadLetter,
        ],
        ref_template="#/components/schemas/{name}",
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Livescore Customers API streams",
            "version": "1.0.0",
            "description": "Redis streams of livescore-engage; see docs/CONTRACT.md and the README.",
        },
        "channels": _channels(),
        "components": {"schemas": components},
    }


# Each channel: its name, its address, what it carries, and the schemas of its entries.
_CHANNELS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "commands",
        COMMANDS_STREAM,
        f"Every change, appended by the ingress, read by the group `{WORKERS_GROUP}`.",
        ("CommandEntry",),
    ),
    (
        "deadLetters",
        DEAD_LETTERS_STREAM,
        "Commands that failed too often: their fields, originalId, error, deliveries, deadLetteredAt.",
        ("CommandEntry",),
    ),
    (
        "fixturesQueue",
        fixtures_queue(0).replace("0", "{packageId}"),
        "A package's fixtures queue; the field `message` holds a FixtureMessage, a CompletionMessage or a"
        " KeepAliveMessage.",
        ("QueueEntry", "FixtureMessage", "CompletionMessage", "KeepAliveMessage"),
    ),
    (
        "incidentsQueue",
        incidents_queue(0).replace("0", "{packageId}"),
        "A package's incidents queue; the field `message` holds an IncidentMessage (a fixture's in"
        " upstream order), a ScoreboardMessage (a fixture's live state, before any later incident of it),"
        " a RecoveryDoneMessage (the end of a recovery) or a HeartbeatMessage.",
        ("QueueEntry", "IncidentMessage", "ScoreboardMessage", "RecoveryDoneMessage", "HeartbeatMessage"),
    ),
    (
        "incidents",
        INCIDENTS_STREAM,
        "Incidents from the feed; the field `message` holds an IncidentMessage. Read with XREAD by the"
        " owner of each partition (fixtureId mod 16), not through a consumer group.",
        ("QueueEntry", "IncidentMessage"),
    ),
    (
        "incidentDeadLetters",
        INCIDENT_DEAD_LETTERS_STREAM,
        "Incidents that were malformed or whose fixture never came within LIVESCORE_INCIDENT_WAIT_S.",
        ("IncidentDeadLetter",),
    ),
    (
        "fixtureUpdates",
        FIXTURE_UPDATES_STREAM,
        "Fixture changes from the feed; the field `message` holds a FixtureMessage.",
        ("QueueEntry", "FixtureMessage"),
    ),
)


def _channels() -> dict[str, Any]:
    return {
        name: {
            "address": address,
            "description": description,
            "messages": {s: {"payload": {"$ref": f"#/components/schemas/{s}"}} for s in schemas},
        }
        for name, address, description, schemas in _CHANNELS
    }


def main() -> int:
    text = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is not current: run `python -m worker.asyncapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
