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
from domain.streams import INCIDENT_OFFSETS, INCIDENT_WORKERS, incident_lease, incidents_delivered

# KEYS the workers' set, then the lease of every partition (PARTITIONS of them); ARGV this worker, the
# lease in ms, where to start looking for free partitions, then the partitions it believes it holds.
# Renews what it still holds, then takes free partitions up to its fair share; returns the number of
# live workers, the fair share, the partitions renewed and those newly taken. Redis's clock decides
# liveness, so workers on machines whose clocks differ still agree.
_LEASES = """
local me, lease, start = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + lease, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local partitions = #KEYS - 1
local fair = math.ceil(partitions / math.max(1, redis.call('ZCARD', KEYS[1])))
local kept, taken, mine = {}, {}, {}
for i = 4, #ARGV do
  local p = tonumber(ARGV[i])
  if redis.call('GET', KEYS[p + 2]) == me then
    redis.call('PEXPIRE', KEYS[p + 2], lease)
    kept[#kept + 1] = p
    mine[p] = true
  end
end
local held = #kept
for i = 0, partitions - 1 do
  if held >= fair then break end
  local p = (start + i) % partitions
  if not mine[p] and redis.call('SET', KEYS[p + 2], me, 'NX', 'PX', lease) then
    taken[#taken + 1] = p
    held = held + 1
  end
end
return {redis.call('ZCARD', KEYS[1]), fair, kept, taken}
"""

# KEYS the workers' set, then leases; ARGV this worker, then whether it also leaves the workers' set.
# Gives up the leases it still holds (never another's).
_RELEASE = """
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Leases:
    """What one renewal found: live workers, this worker's fair share, what it renewed and took."""

    workers: int
    fair: int
    kept: list[int]
    taken: list[int]


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
        self._leases = redis.register_script(_LEASES)
        self._release = redis.register_script(_RELEASE)
        self._keys: list[Any] = [INCIDENT_WORKERS, *(incident_lease(p) for p in range(PARTITIONS))]
        # Workers start looking for free partitions at different places, so that they rarely collide.
        self._start = sum(me.encode()) % PARTITIONS

    async def renew(self, held: Iterable[int]) -> Leases:
        args: list[Any] = [self._me, self._lease_ms, self._start, *held]
        workers, fair, kept, taken = await self._leases(keys=self._keys, args=args)
        return Leases(int(workers), int(fair), [int(p) for p in kept], [int(p) for p in taken])

    async def release(self, partitions: Iterable[int], leaving: bool = False) -> None:
        keys: list[Any] = [INCIDENT_WORKERS, *(incident_lease(p) for p in partitions)]
        await self._release(keys=keys, args=[self._me, "1" if leaving else "0"])


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
