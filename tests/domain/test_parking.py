"""The script that settles a round of incident partitions (domain/scripts/parking.py), on a real Redis."""

from typing import Any

from redis.asyncio import Redis

from domain.commands import StreamId
from domain.fixture_store import FixtureRefs
from domain.incident_order import Action, Commit, DeadLetter, DeadReason, Deliver, Park, Parked, Unpark
from domain.scripts.parking import settle_incidents
from domain.scripts.runner import RedisPyScripts
from domain.streams import (
    INCIDENT_DEAD_LETTERS_STREAM,
    INCIDENT_OFFSETS,
    incidents_parked,
    incidents_parked_fixtures,
)


async def test_a_round_of_incident_partitions_is_settled_at_once_and_a_repeated_parking_counts_once(
    redis: Redis,
) -> None:
    """What a lost reply would make the worker send again changes nothing; a fixture whose last parked
    incident leaves is no longer counted; dead letters carry the original message and the reason."""
    first, second = StreamId(5, 1), StreamId(5, 2)
    parked = [Park(3, Parked(first, 19, b"m1", 100)), Park(3, Parked(second, 19, b"m2", 100))]
    await settle_incidents([*parked, Commit(3, second)]).run(RedisPyScripts(redis))
    await settle_incidents([parked[0], Commit(3, second)]).run(RedisPyScripts(redis))
    assert await redis.hget(incidents_parked_fixtures(3), "19") == b"2"
    assert await redis.hget(INCIDENT_OFFSETS, "3") == b"5-2"
    stored: Any = await redis.xrange(incidents_parked(3))
    assert [(entry_id, fields[b"message"]) for entry_id, fields in stored] == [
        (b"5-1", b"m1"),
        (b"5-2", b"m2"),
    ]
    dead = DeadLetter(3, first, b"m1", DeadReason.NO_FIXTURE, "fixture 19 not in storage after 60 s")
    settled: list[Action] = [
        dead,
        Unpark(3, first, 19),
        Deliver(3, second, 19, b"{}", FixtureRefs(1, 2)),
        Unpark(3, second, 19),
    ]
    await settle_incidents(settled).run(RedisPyScripts(redis))
    assert await redis.exists(incidents_parked_fixtures(3)) == 0
    assert await redis.xlen(incidents_parked(3)) == 0
    letters: Any = await redis.xrange(INCIDENT_DEAD_LETTERS_STREAM)
    (letter,) = [fields for _, fields in letters]
    assert (letter[b"message"], letter[b"originalId"]) == (b"m1", b"5-1")
    assert letter[b"error"] == b"fixture 19 not in storage after 60 s"


async def test_messages_reach_redis_byte_for_byte_whatever_they_hold(redis: Redis) -> None:
    """The operations travel as one MessagePack string: a malformed entry's bytes (not UTF-8, NUL, the
    packing's own markers) and large ids come out as they went in."""
    odd, big = b"\xff\x00\xdb\x91{not json", 9_007_199_254_740_993  # above a Lua number's exact range
    entry = StreamId(1_765_000_000_000, 7)
    settled: list[Action] = [
        DeadLetter(2, entry, odd, DeadReason.MALFORMED, "malformed: not JSON"),
        Park(2, Parked(StreamId(1_765_000_000_000, 8), big, odd * 1000, 1_765_000_000_123)),
        Commit(2, StreamId(1_765_000_000_000, 8)),
    ]
    await settle_incidents(settled).run(RedisPyScripts(redis))
    letters: Any = await redis.xrange(INCIDENT_DEAD_LETTERS_STREAM)
    assert letters[0][1][b"message"] == odd
    stored: Any = await redis.xrange(incidents_parked(2))
    assert stored[0][1] == {b"message": odd * 1000, b"fixture": str(big).encode(), b"since": b"1765000000123"}
    assert await redis.hget(incidents_parked_fixtures(2), str(big)) == b"1"
    assert await redis.hget(INCIDENT_OFFSETS, "2") == b"1765000000000-8"
