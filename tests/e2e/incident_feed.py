"""The incident feed the multi-worker tests share: fixtures, a random feed of their incidents, appending it,
and killing a worker that owns partitions in the middle of the flow (tests/e2e/test_incident_order.py,
tests/e2e/test_live_state.py)."""

import asyncio
import random
import signal
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.incidents import PARTITIONS
from domain.messages import MessageType, envelope
from domain.streams import INCIDENTS_STREAM, incident_lease
from tests.e2e.processes import Worker
from tests.fixture_factory import FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture, incident

# Football in the Premier League, football elsewhere, and tennis: every package gets a different share.
FIXTURES = [
    fixture(i, status=2, sport=TENNIS if i % 3 == 0 else FOOTBALL, league=PREMIER_LEAGUE if i % 2 else 2000)
    for i in range(1, 41)
]
INCIDENTS = 3000
# The takeover of a dead worker's partitions waits for its lease to run out: a short one, for a quick test.
QUICK = {"LIVESCORE_INCIDENT_LEASE_MS": "1000"}


def feed(seed: int) -> list[tuple[int, bytes]]:
    """(fixture id, message) of every incident, in the order the feed appends them."""
    rng = random.Random(seed)
    appended = []
    for incident_id in range(1, INCIDENTS + 1):
        fixture_id = rng.choice(FIXTURES).fixture_id
        body = msgspec.json.encode(incident(incident_id, fixture_id))
        appended.append((fixture_id, envelope(MessageType.INCIDENT, body).body))
    return appended


async def append(redis: Redis, messages: list[bytes]) -> None:
    pipe = redis.pipeline(transaction=False)
    for message in messages:
        pipe.xadd(INCIDENTS_STREAM, {"message": message})
    await pipe.execute()


async def _owners(redis: Redis) -> set[str]:
    owners: Any = await redis.mget([incident_lease(p) for p in range(PARTITIONS)])
    return {owner.decode() for owner in owners if owner is not None}


async def spread(redis: Redis, workers: int) -> bool:
    """Partitions are shared out: every worker owns some (parallelism across fixtures remains)."""
    return len(await _owners(redis)) == workers


async def busy_victim(redis: Redis, workers: list[Worker]) -> Worker:
    """A worker that owns partitions at this moment."""
    owners = await _owners(redis)
    return next(w for w in workers if w.consumer in owners)


async def kill_one_mid_flow(redis: Redis, workers: list[Worker], messages: list[bytes]) -> Worker:
    """Append the messages in chunks while the workers deliver, faster than they do, and SIGKILL a worker
    that owns partitions once a third is appended (the kill comes in the middle of a delivery); the one
    killed."""
    a_third = asyncio.Event()

    async def produce() -> None:
        for start in range(0, len(messages), 100):
            await append(redis, messages[start : start + 100])
            if start >= len(messages) // 3:
                a_third.set()
            await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    await a_third.wait()
    victim = await busy_victim(redis, workers)
    victim.signal(signal.SIGKILL)
    await victim.exited(5)
    await producer
    return victim
