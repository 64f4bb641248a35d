"""The fixture format of SPEC §4: queue messages, `fixtures import` files and fixture updates share it."""

from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated

import msgspec

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class FixtureStatus(IntEnum):
    NOT_STARTED = 1
    IN_PROGRESS = 2
    FINISHED = 3
    CANCELLED = 4
    POSTPONED = 5
    INTERRUPTED = 6
    ABANDONED = 7
    COVERAGE_LOST = 8
    ABOUT_TO_START = 9


# What a snapshot publishes: fixtures that have not started yet.
UPCOMING = (FixtureStatus.NOT_STARTED, FixtureStatus.ABOUT_TO_START)


class Ref(msgspec.Struct, frozen=True):
    """A sport, league or location."""

    id: int
    name: str


class Participant(msgspec.Struct, frozen=True):
    id: int
    name: str
    # 1 home, 2 away.
    position: Annotated[int, msgspec.Meta(ge=1)]


class Fixture(msgspec.Struct, frozen=True, rename="camel"):
    fixture_id: Annotated[int, msgspec.Meta(gt=0)]
    status: Annotated[int, msgspec.Meta(ge=1, le=9)]
    start_date: UtcTime
    sport: Ref
    league: Ref
    location: Ref
    participants: list[Participant]
    # Absent on import means "now" (SPEC §4); always present once stored.
    last_update: UtcTime | None = None

    def stamped(self, now: datetime | None = None) -> "Fixture":
        if self.last_update is not None:
            return self
        return msgspec.structs.replace(self, last_update=now or datetime.now(UTC))


_decoder = msgspec.json.Decoder(Fixture)


def decode_fixture(data: bytes | str) -> Fixture:
    """Raises msgspec.ValidationError / DecodeError with the offending path in its message."""
    return _decoder.decode(data)


def encode_fixture(fixture: Fixture) -> bytes:
    return msgspec.json.encode(fixture)
