"""Incident partitions in Redis: which worker owns which (leases), and how far each got (offsets).

A fixture's incidents must reach every queue in stream order, whatever the number of workers (SPEC §10).
Fixtures are split into PARTITIONS by id; a partition is owned by one worker at a time through a lease
(SET NX PX, renewed), and its owner alone reads and delivers its entries, in order. Live workers keep a
score in one sorted set, so each can tell its fair share; a dead worker's leases and score run out and
the others take its partitions over within one lease time.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.commands import StreamId
from domain.incidents import PARTITIONS
from domain.scripts.leases import Leases, release_leases, renew_leases
from domain.scripts.runner import RedisPyScripts
from domain.streams import INCIDENT_OFFSETS, INCIDENT_WORKERS, incident_lease, incidents_delivered


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a partition's new owner starts: the offset, and the fixtures delivered past it."""

    offset: StreamId
    delivered: dict[int, StreamId]


# Before any incident was ever handled: XREAD returns entries after this id, i.e. all of them.
START = StreamId(0, 0)


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


def save_offsets(pipe: Pipeline, offsets: Mapping[int, StreamId]) -> None:
    """Queue the partitions' new offsets."""
    if offsets:
        pipe.hset(INCIDENT_OFFSETS, mapping={str(p): str(offset) for p, offset in offsets.items()})


def record_delivered(pipe: Pipeline, partition: int, delivered: Mapping[int, StreamId]) -> None:
    """Queue the record of fixtures delivered past a partition's offset (their last incident)."""
    if delivered:
        mapping: dict[Any, Any] = {str(fixture): str(entry_id) for fixture, entry_id in delivered.items()}
        pipe.hset(incidents_delivered(partition), mapping=mapping)


def forget_delivered(pipe: Pipeline, partition: int) -> None:
    """Nothing is delivered past the offset any more: the record goes."""
    pipe.delete(incidents_delivered(partition))
