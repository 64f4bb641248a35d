"""The incident format of SPEC §10: what arrives on `livescore:incidents` and what packages receive.

An incident is one event of a live fixture (a goal, a period started, a card, the clock). It arrives in
the §4 envelope with MessageType 2 and leaves in a fresh one whose header also names the fixture, its
sport and its league. The body leaves exactly as it came, byte for byte: the struct below only validates
it, so that a field the feed adds (or one this module does not name) is never lost.
"""

from typing import Annotated

import msgspec

from domain.fixtures import Ref


class Value(msgspec.Struct, frozen=True):
    """A figure per participant: position 1 home, 2 away."""

    position: int
    value: float | int | str


class Player(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    name: str | None = None
    position: int | None = None
    # e.g. "In" / "Out" for a substitution, "Scorer" / "Assist" for a goal.
    role: str | None = None


class Incident(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    id: int
    fixture_id: Annotated[int, msgspec.Meta(gt=0)]
    # Score, Period, Statistic, PlayerStatistic, VAR, Timer, Possession, … (open: the feed adds kinds).
    kind: Annotated[str, msgspec.Meta(min_length=1)]
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    name: str | None = None
    values: list[Value] | None = None
    period: Ref | None = None
    # Match clock, in seconds since the start of play.
    seconds: int | None = None
    initiator_position: int | None = None
    player_list: list[Player] | None = None
    # e.g. Started / Finished for a period.
    status: str | None = None


class _Header(msgspec.Struct, frozen=True):
    MessageType: int


class _Envelope(msgspec.Struct, frozen=True):
    header: _Header
    # Kept as the bytes that came: validated against Incident, forwarded untouched (SPEC §10).
    body: msgspec.Raw


class _Fixture(msgspec.Struct, frozen=True):
    fixtureId: int


class _FixtureOnly(msgspec.Struct, frozen=True):
    body: _Fixture


# What `livescore:incidents` carries (domain.messages.MessageType.INCIDENT; not imported, to keep this
# module free of the envelope's encoder).
INCIDENT_TYPE = 2

# Incidents are spread over this many partitions by fixture id; each partition is owned by one worker at
# a time, which keeps a fixture's incidents in order (worker/partitions.py). More than the workers one
# would run, so that every worker gets a share; few enough that each worker reads the stream once.
PARTITIONS = 16

# The incidents stream belongs to the feed, which trims it; what the service appends itself (`livescore
# simulate`, `livescore dead retry`) trims it to about this many entries, far more than any backlog.
INCIDENTS_MAXLEN = 1_000_000

_decoder = msgspec.json.Decoder(_Envelope)
_body_decoder = msgspec.json.Decoder(Incident)
_fixture_decoder = msgspec.json.Decoder(_FixtureOnly)
_encoder = msgspec.json.Encoder()


class NotAnIncident(ValueError):
    """An entry of `livescore:incidents` that can never be delivered (it is dead-lettered at once)."""


def decode_incident(message: bytes) -> Incident:
    """The incident of an envelope; NotAnIncident says what is wrong with it."""
    return incident_body(message)[0]


def incident_body(message: bytes) -> tuple[Incident, bytes]:
    """The incident of an envelope, validated, and its body exactly as it came (to be forwarded)."""
    try:
        envelope = _decoder.decode(message)
        if envelope.header.MessageType != INCIDENT_TYPE:
            raise NotAnIncident(f"MessageType {envelope.header.MessageType}, not {INCIDENT_TYPE}")
        return _body_decoder.decode(envelope.body), bytes(envelope.body)
    except msgspec.DecodeError as exc:
        raise NotAnIncident(str(exc)) from None


def fixture_of(message: bytes) -> int | None:
    """The fixture an envelope is about, read cheaply; None when it names none (its partition is then
    the first one: some owner must dead-letter it)."""
    try:
        fixture_id = _fixture_decoder.decode(message).body.fixtureId
    except msgspec.DecodeError:
        return None
    return fixture_id if fixture_id > 0 else None


def partition_of(fixture_id: int | None) -> int:
    return fixture_id % PARTITIONS if fixture_id is not None else 0


def encode_incident(incident: Incident) -> bytes:
    return _encoder.encode(incident)
