"""Incident partitions in Redis: which worker owns which (leases), how far each got (offsets), and which
of its incidents wait for their fixture (parked; domain/incident_order.py decides, this module stores).

A fixture's incidents must reach every queue in stream order, whatever the number of workers (SPEC §10).
Fixtures are split into PARTITIONS by id; a partition is owned by one worker at a time through a lease
(SET NX PX, renewed), and its owner alone reads and delivers its entries, in order. Live workers keep a
score in one sorted set, so each can tell its fair share; a dead worker's leases and score run out and
the others take its partitions over within one lease time.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from domain.commands import StreamId
from domain.incident_order import START, Action, DeadLetter, Parked
from domain.incidents import PARTITIONS
from domain.messages import MESSAGE_FIELD
from domain.scripts.leases import Leases, release_leases, renew_leases
from domain.scripts.parking import settle_incidents
from domain.scripts.runner import RedisPyScripts
from domain.streams import (
    INCIDENT_OFFSETS,
    INCIDENT_WORKERS,
    incident_lease,
    incidents_delivered,
    incidents_parked,
    incidents_parked_fixtures,
)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a partition's new owner starts: the offset, and the fixtures delivered past it."""

    offset: StreamId
    delivered: dict[int, StreamId]


def before(entry_id: StreamId) -> StreamId:
    """The greatest stream id below `entry_id`: an offset that makes XREAD return `entry_id` next."""
    if entry_id.seq > 0:
        return StreamId(entry_id.ms, entry_id.seq - 1)
    return StreamId(entry_id.ms - 1, 2**64 - 1) if entry_id.ms > 0 else START


class PartitionLeases:
    def __init__(self, redis: Redis, me: str, lease_ms: int) -> None:
        self._redis = redis
        self._me = me
        self._lease_ms = lease_ms
        self._scripts = RedisPyScripts(redis)
        self._leases = [incident_lease(p) for p in range(PARTITIONS)]
        # Workers start looking for free partitions at different places, so that they rarely collide.
        self._start = sum(me.encode()) % PARTITIONS

    async def renew(self, held: Iterable[int]) -> Leases:
        call = renew_leases(
            workers=INCIDENT_WORKERS,
            leases=self._leases,
            me=self._me,
            lease_ms=self._lease_ms,
            start=self._start,
            held=list(held),
        )
        return await call.run(self._scripts)

    async def release(self, partitions: Iterable[int], leaving: bool = False) -> None:
        leases = [incident_lease(p) for p in partitions]
        call = release_leases(workers=INCIDENT_WORKERS, leases=leases, me=self._me, leaving=leaving)
        await call.run(self._scripts)


async def load_progress(redis: Redis, partition: int) -> Progress:
    pipe = redis.pipeline(transaction=False)
    pipe.hget(INCIDENT_OFFSETS, str(partition))
    pipe.hgetall(incidents_delivered(partition))
    offset, delivered = await pipe.execute()
    return Progress(
        StreamId.parse(offset) if offset else START,
        {int(fixture): StreamId.parse(entry_id) for fixture, entry_id in delivered.items()},
    )


_MESSAGE, _FIXTURE, _SINCE = MESSAGE_FIELD.encode(), b"fixture", b"since"


async def load_parked(
    redis: Redis, wanted: Mapping[int, tuple[StreamId | None, int]]
) -> dict[int, list[Parked]]:
    """Per partition, up to `count` parked incidents after `after` (from the first: None), oldest first;
    all partitions in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for partition, (after, count) in wanted.items():
        pipe.xrange(incidents_parked(partition), f"({after}" if after is not None else "-", "+", count=count)
    replies: list[Any] = await pipe.execute() if wanted else []
    return {
        partition: [
            Parked(StreamId.parse(entry_id), int(fields[_FIXTURE]), fields[_MESSAGE], int(fields[_SINCE]))
            for entry_id, fields in entries
        ]
        for partition, entries in zip(wanted, replies, strict=True)
    }


async def parked_among(redis: Redis, fixtures: Mapping[int, Sequence[int]]) -> dict[int, frozenset[int]]:
    """Per partition, which of these fixtures have incidents parked (in Redis, whether in memory or not)."""
    pipe = redis.pipeline(transaction=False)
    asked = [(p, list(dict.fromkeys(ids))) for p, ids in fixtures.items() if ids]
    for partition, ids in asked:
        pipe.hmget(incidents_parked_fixtures(partition), [str(f) for f in ids])
    counts = await pipe.execute() if asked else []
    return {
        partition: frozenset(f for f, n in zip(ids, found, strict=True) if n is not None and int(n) > 0)
        for (partition, ids), found in zip(asked, counts, strict=True)
    }


async def commit(redis: Redis, actions: Sequence[Action]) -> None:
    """Dead letters, parkings, releases, offsets and forgotten records, in one script; dead letters in
    stream order, whatever partition they come from (an operator reads them in order)."""
    dead = sorted((a for a in actions if isinstance(a, DeadLetter)), key=lambda a: a.entry_id)
    ordered = [*dead, *(a for a in actions if not isinstance(a, DeadLetter))]
    await settle_incidents(ordered).run(RedisPyScripts(redis))
