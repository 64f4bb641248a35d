"""Small fixtures (the sports kind) for tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from cli.match_day import SPORTS, match_day, pick_matches
from domain.commands import StreamId
from domain.fixtures import Fixture, FixtureStatus, Participant, Ref
from domain.incidents import encode_incident
from domain.scoreboard_store import Delivered

FOOTBALL, TENNIS = 6046, 54094
PREMIER_LEAGUE, ATP = 1001, 3001


def fixture(
    fixture_id: int,
    status: int = 1,
    sport: int = FOOTBALL,
    league: int = PREMIER_LEAGUE,
    last_update: datetime | None = None,
) -> Fixture:
    start = datetime(2030, 5, 1, 15, 0, tzinfo=UTC) + timedelta(hours=fixture_id)
    return Fixture(
        fixture_id=fixture_id,
        status=status,
        start_date=start,
        sport=Ref(sport, f"sport {sport}"),
        league=Ref(league, f"league {league}"),
        location=Ref(826, "England"),
        participants=[Participant(1, "Home FC", 1), Participant(2, "Away United", 2)],
        last_update=last_update or datetime(2030, 4, 1, tzinfo=UTC),
    )


def incident(incident_id: int, fixture_id: int, kind: str = "Score", **fields: Any) -> dict[str, Any]:
    """An incident body as the feed sends it (SPEC §10): a score of 1–0 unless told otherwise."""
    body: dict[str, Any] = {
        "id": incident_id,
        "fixtureId": fixture_id,
        "kind": kind,
        "confidence": 1.0,
        "name": "Goal",
        "values": [{"position": 1, "value": 1}, {"position": 2, "value": 0}],
        "period": {"id": 1, "name": "1st Half"},
        "seconds": 600,
    }
    return {**body, **fields}


BEGAN = datetime(2030, 1, 1, tzinfo=UTC)


def recorded(seed: int) -> tuple[list[Fixture], list[Delivered]]:
    """A recorded match day of every demo sport: its fixtures, in play, and their incidents as the stream
    holds them (bodies as the simulator encodes them, one entry a second)."""
    fixtures = [
        msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS, last_update=BEGAN)
        for f in pick_matches(len(SPORTS), seed)
    ]
    beats = [beat for beat in match_day(fixtures, seed) if beat.incident is not None]
    first_ms = int(BEGAN.timestamp() * 1000)
    return fixtures, [
        Delivered(StreamId(first_ms + 1000 * n, 0), beat.fixture_id, encode_incident(beat.incident))
        for n, beat in enumerate(beats)
        if beat.incident is not None
    ]
