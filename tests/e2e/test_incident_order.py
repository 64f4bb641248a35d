"""Incidents keep their order per fixture with several real worker processes, one of them SIGKILLed.

Every queue must receive every incident of its fixtures, the first time each arrives in upstream order;
a repeat after the crash is allowed, a reordering is not (SPEC §10).
"""

import asyncio
import random
import signal
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.fixture_store import store_fixtures
from domain.incidents import PARTITIONS
from domain.messages import MessageType, envelope
from domain.streams import INCIDENTS_STREAM, incident_lease, incidents_queue
from tests.e2e.processes import Processes, Worker
from tests.fixture_factory import FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture, incident
from tests.support import eventually

# Football in the Premier League, football elsewhere, and tennis: every package gets a different share.
FIXTURES = [
    fixture(i, status=2, sport=TENNIS if i % 3 == 0 else FOOTBALL, league=PREMIER_LEAGUE if i % 2 else 2000)
    for i in range(1, 41)
]
# Package id → its subscriptions.
SUBSCRIPTIONS: dict[int, dict[str, list[int]]] = {
    1: {},
    2: {"sports": [FOOTBALL]},
    3: {"leagues": [PREMIER_LEAGUE]},
    4: {"sports": [TENNIS], "leagues": [PREMIER_LEAGUE]},
}
INCIDENTS = 3000
# The takeover of a dead worker's partitions waits for its lease to run out: a short one, for a quick test.
QUICK = {"LIVESCORE_INCIDENT_LEASE_MS": "1000"}
# Generous for a loaded 2-core machine, far below a hang.
DELIVERY_TIMEOUT_S = 60


async def _prepare(storage: AsyncEngine) -> None:
    async with storage.begin() as conn:
        await store_fixtures(conn, FIXTURES)
        for package_id, subscriptions in SUBSCRIPTIONS.items():
            await packages.add_package(conn, package_id, f"u{package_id}", "pw", active=True, **subscriptions)


def _feed(seed: int) -> list[tuple[int, bytes]]:
    """(fixture id, message) of every incident, in the order the feed appends them."""
    rng = random.Random(seed)
    feed = []
    for incident_id in range(1, INCIDENTS + 1):
        fixture_id = rng.choice(FIXTURES).fixture_id
        body = msgspec.json.encode(incident(incident_id, fixture_id))
        feed.append((fixture_id, envelope(MessageType.INCIDENT, body).body))
    return feed


async def _append(redis: Redis, messages: list[bytes]) -> None:
    pipe = redis.pipeline(transaction=False)
    for message in messages:
        pipe.xadd(INCIDENTS_STREAM, {"message": message})
    await pipe.execute()


async def _owners(redis: Redis) -> set[str]:
    owners: Any = await redis.mget([incident_lease(p) for p in range(PARTITIONS)])
    return {owner.decode() for owner in owners if owner is not None}


def _expected(feed: list[tuple[int, bytes]]) -> dict[int, dict[int, list[int]]]:
    """Per package, per fixture, the incident ids in upstream order."""
    by_id = {f.fixture_id: f for f in FIXTURES}
    expected: dict[int, dict[int, list[int]]] = {p: defaultdict(list) for p in SUBSCRIPTIONS}
    for incident_id, (fixture_id, _) in enumerate(feed, start=1):
        found = by_id[fixture_id]
        for package_id, subscriptions in SUBSCRIPTIONS.items():
            sports, leagues = subscriptions.get("sports", []), subscriptions.get("leagues", [])
            if (not sports and not leagues) or found.sport.id in sports or found.league.id in leagues:
                expected[package_id][fixture_id].append(incident_id)
    return expected


async def _received(redis: Redis, package_id: int) -> dict[int, list[int]]:
    entries: Any = await redis.xrange(incidents_queue(package_id))
    received: dict[int, list[int]] = defaultdict(list)
    for _, fields in entries:
        body = msgspec.json.decode(fields[b"message"])["body"]
        received[body["fixtureId"]].append(body["id"])
    return received


def _first_seen(ids: list[int]) -> list[int]:
    seen: set[int] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


async def _complete(redis: Redis, expected: dict[int, dict[int, list[int]]]) -> bool:
    for package_id, fixtures in expected.items():
        received = await _received(redis, package_id)
        if any(set(received.get(f, [])) != set(ids) for f, ids in fixtures.items()):
            return False
    return True


@pytest.mark.parametrize("workers", [2, 4])
async def test_each_queue_gets_each_fixtures_incidents_in_upstream_order_across_a_worker_killed_mid_flow(
    processes: Processes, redis: Redis, storage: AsyncEngine, workers: int
) -> None:
    await _prepare(storage)
    started = await processes.workers(workers, **QUICK)
    feed = _feed(seed=workers)
    messages = [message for _, message in feed]
    await eventually(lambda: _spread(redis, len(started)), 20, "every worker owns incident partitions")
    a_third = asyncio.Event()

    async def produce() -> None:
        # In chunks while the workers deliver, faster than they do, so that the kill comes in the middle
        # of a delivery.
        for start in range(0, len(messages), 100):
            await _append(redis, messages[start : start + 100])
            if start >= len(messages) // 3:
                a_third.set()
            await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    await a_third.wait()
    victim = await _busy_victim(redis, started)
    victim.signal(signal.SIGKILL)
    await victim.exited(5)
    await producer

    expected = _expected(feed)
    await eventually(lambda: _complete(redis, expected), DELIVERY_TIMEOUT_S, "every incident delivered")
    for package_id, fixtures in expected.items():
        received = await _received(redis, package_id)
        assert set(received) == set(fixtures), package_id
        for fixture_id, ids in fixtures.items():
            assert _first_seen(received[fixture_id]) == ids, (package_id, fixture_id)
    assert victim.popen.returncode == -signal.SIGKILL
    assert all(w.running for w in started if w is not victim)


async def _spread(redis: Redis, workers: int) -> bool:
    """Partitions are shared out: every worker owns some (parallelism across fixtures remains)."""
    return len(await _owners(redis)) == workers


async def _busy_victim(redis: Redis, workers: list[Worker]) -> Worker:
    """A worker that owns partitions at this moment."""
    owners = await _owners(redis)
    return next(w for w in workers if w.consumer in owners)
