"""The message envelope on every queue and upstream stream (SPEC §4, §10)."""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

import msgspec

# Every queue entry holds one field of this name, so that any Redis client can read it.
MESSAGE_FIELD = "message"


class MessageType(IntEnum):
    FIXTURE = 1
    INCIDENT = 2
    # A fixture's live state (SPEC §12): the initial image, recovery, and what pull answers.
    SCOREBOARD = 4
    KEEP_ALIVE = 31
    HEARTBEAT = 32
    SNAPSHOT_COMPLETE = 100
    # The end of a recovery (SPEC §12): what it sent, after everything it sent.
    RECOVERY_DONE = 101


class Header(msgspec.Struct, frozen=True, omit_defaults=True):
    MessageId: str
    Timestamp: str
    MessageType: int
    RequestId: str | None = None
    # An incident's header names its fixture, the fixture's league and sport (SPEC §10).
    FixtureId: int | None = None
    LeagueId: int | None = None
    SportId: int | None = None
    # A recovered incident (SPEC §12): an earlier incident sent again, named by its recovery's RequestId.
    Recovered: bool | None = None


class Message(msgspec.Struct, frozen=True):
    header: Header
    body: msgspec.Raw


class SnapshotComplete(msgspec.Struct, frozen=True):
    requestId: str
    fixtureCount: int


class RecoveryDone(msgspec.Struct, frozen=True):
    requestId: str
    fixtureCount: int
    incidentCount: int


class KeepAlive(msgspec.Struct, frozen=True):
    """The fixtures a package receives that are in progress or about to start."""

    ActiveEvents: list[int]


class HeaderOnly(msgspec.Struct, frozen=True):
    """A heartbeat: `{"header": {…}}` and no body at all (SPEC §10)."""

    header: Header


_encoder = msgspec.json.Encoder()


def timestamp(now: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as every message, command and dead letter carries."""
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as it leaves the service: the envelope as UTF-8 JSON, and what an AMQP message
    carries beside it (SPEC §9: its id and type, and for a message about one fixture, its ids)."""

    body: bytes
    message_type: MessageType
    message_id: str
    headers: Mapping[str, int | str] = field(default_factory=dict)


def envelope(
    kind: MessageType, body: bytes, request_id: str | None = None, headers: Mapping[str, int] | None = None
) -> Outgoing:
    """A message around an already encoded body, with a fresh MessageId."""
    return envelopes(kind, [body], request_id, [headers or {}])[0]


def envelopes(
    kind: MessageType,
    bodies: Sequence[bytes],
    request_id: str | None = None,
    headers: Sequence[Mapping[str, int]] | None = None,
) -> list[Outgoing]:
    """Messages around already encoded bodies, sharing one Timestamp; `headers`, one per body, are the
    AMQP headers of each.

    The hot path of a snapshot: the header is encoded once (msgspec escapes the request id) and only the
    MessageId, which is plain hex, is joined in per message (a sixth of encoding each whole header;
    docs/BENCHMARKS.md).
    """
    header = _encoder.encode(Header("", timestamp(), int(kind), request_id))
    prefix, suffix = b'{"header":' + header[: len(_ID_OPEN)], header[len(_ID_OPEN) :] + b',"body":'
    extra = headers or [{}] * len(bodies)
    return [
        Outgoing(b"".join((prefix, mid, suffix, body, b"}")), kind, mid.decode(), more)
        for mid, body, more in zip(new_ids(len(bodies)), bodies, extra, strict=True)
    ]


def fixture_headers(fixture_id: int, sport_id: int, league_id: int) -> dict[str, int]:
    """What an AMQP message about one fixture carries beside its body (SPEC §9)."""
    return {"FixtureId": fixture_id, "SportId": sport_id, "LeagueId": league_id}


# The encoded header starts with this; the MessageId goes right after it.
_ID_OPEN = b'{"MessageId":"'


def new_ids(count: int) -> list[bytes]:
    """Random (version 4) UUIDs, formatted: one urandom call for all, far cheaper than uuid.uuid4() each."""
    raw = os.urandom(16 * count).hex()
    ids = []
    for i in range(0, 32 * count, 32):
        h = raw[i : i + 32]
        variant = "89ab"[int(h[16], 16) & 3]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}".encode())
    return ids


def completion(request_id: str, fixture_count: int) -> Outgoing:
    body = _encoder.encode(SnapshotComplete(request_id, fixture_count))
    return envelope(MessageType.SNAPSHOT_COMPLETE, body, request_id)


def incident_message(body: bytes, fixture_id: int, sport_id: int, league_id: int) -> Outgoing:
    """An incident as packages receive it: a fresh header naming its fixture, league and sport."""
    (message_id,) = new_ids(1)
    header = Header(
        message_id.decode(), timestamp(), int(MessageType.INCIDENT), None, fixture_id, league_id, sport_id
    )
    data = b"".join((b'{"header":', _encoder.encode(header), b',"body":', body, b"}"))
    return Outgoing(
        data, MessageType.INCIDENT, header.MessageId, fixture_headers(fixture_id, sport_id, league_id)
    )


def scoreboard_message(
    body: bytes, fixture_id: int, sport_id: int, league_id: int, request_id: str | None = None
) -> Outgoing:
    """A fixture's scoreboard (MessageType 4, SPEC §12) around its encoded body, with the fixture's header
    fields (as an incident's) and, sent by a recovery, its RequestId."""
    return _about_fixture(MessageType.SCOREBOARD, body, fixture_id, sport_id, league_id, request_id)


def recovered_incidents(
    bodies: Sequence[bytes], fixture_id: int, sport_id: int, league_id: int, request_id: str
) -> list[Outgoing]:
    """A fixture's incidents sent again by a recovery: the same bodies, fresh MessageIds, marked Recovered.
    The header is encoded once for them all (a recovery sends tens of thousands; as envelopes() does)."""
    header = _encoder.encode(
        Header("", timestamp(), int(MessageType.INCIDENT), request_id, fixture_id, league_id, sport_id, True)
    )
    prefix, suffix = b'{"header":' + header[: len(_ID_OPEN)], header[len(_ID_OPEN) :] + b',"body":'
    headers: dict[str, int | str] = {
        **fixture_headers(fixture_id, sport_id, league_id),
        "RequestId": request_id,
    }
    headers["Recovered"] = True
    return [
        Outgoing(b"".join((prefix, mid, suffix, body, b"}")), MessageType.INCIDENT, mid.decode(), headers)
        for mid, body in zip(new_ids(len(bodies)), bodies, strict=True)
    ]


def _about_fixture(
    kind: MessageType,
    body: bytes,
    fixture_id: int,
    sport_id: int,
    league_id: int,
    request_id: str | None,
) -> Outgoing:
    (message_id,) = new_ids(1)
    header = Header(message_id.decode(), timestamp(), int(kind), request_id, fixture_id, league_id, sport_id)
    data = b"".join((b'{"header":', _encoder.encode(header), b',"body":', body, b"}"))
    headers: dict[str, int | str] = {**fixture_headers(fixture_id, sport_id, league_id)}
    if request_id is not None:
        headers["RequestId"] = request_id
    return Outgoing(data, kind, header.MessageId, headers)


def recovery_done(request_id: str, fixture_count: int, incident_count: int) -> Outgoing:
    """The last message of a recovery (MessageType 101)."""
    body = _encoder.encode(RecoveryDone(request_id, fixture_count, incident_count))
    return envelope(MessageType.RECOVERY_DONE, body, request_id)


def keep_alive(fixture_ids: Sequence[int]) -> Outgoing:
    return envelope(MessageType.KEEP_ALIVE, _encoder.encode(KeepAlive(list(fixture_ids))))


def heartbeat() -> Outgoing:
    (message_id,) = new_ids(1)
    header = Header(message_id.decode(), timestamp(), int(MessageType.HEARTBEAT))
    return Outgoing(_encoder.encode(HeaderOnly(header)), MessageType.HEARTBEAT, header.MessageId)


def body_of(message: bytes) -> bytes:
    """The body of an envelope as raw JSON, for fixture updates."""
    return bytes(msgspec.json.decode(message, type=Message).body)
