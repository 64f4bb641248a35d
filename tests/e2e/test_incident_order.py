"""Incidents keep their order per fixture with several real worker processes, one of them SIGKILLed.

Every queue must receive every incident of its fixtures, the first time each arrives in upstream order;
a repeat after the crash is allowed, a reordering is not (SPEC §10).
"""

import signal
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.fixture_store import store_fixtures
from domain.streams import incidents_queue
from tests.e2e.incident_feed import FIXTURES, QUICK, feed, kill_one_mid_flow, spread
from tests.e2e.processes import Processes
from tests.fixture_factory import FOOTBALL, PREMIER_LEAGUE, TENNIS
from tests.support import eventually

# Package id → its subscriptions.
SUBSCRIPTIONS: dict[int, dict[str, list[int]]] = {
    1: {},
    2: {"sports": [FOOTBALL]},
    3: {"leagues": [PREMIER_LEAGUE]},
    4: {"sports": [TENNIS], "leagues": [PREMIER_LEAGUE]},
}
# Generous for a loaded 2-core machine, far below a hang.
DELIVERY_TIMEOUT_S = 60


async def _prepare(storage: AsyncEngine) -> None:
    async with storage.begin() as conn:
        await store_fixtures(conn, FIXTURES)
        for package_id, subscriptions in SUBSCRIPTIONS.items():
            await packages.add_package(conn, package_id, f"u{package_id}", "pw", active=True, **subscriptions)


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
    appended = feed(seed=workers)
    messages = [message for _, message in appended]
    await eventually(lambda: spread(redis, len(started)), 20, "every worker owns incident partitions")
    victim = await kill_one_mid_flow(redis, started, messages)

    expected = _expected(appended)
    await eventually(lambda: _complete(redis, expected), DELIVERY_TIMEOUT_S, "every incident delivered")
    for package_id, fixtures in expected.items():
        received = await _received(redis, package_id)
        assert set(received) == set(fixtures), package_id
        for fixture_id, ids in fixtures.items():
            assert _first_seen(received[fixture_id]) == ids, (package_id, fixture_id)
    assert victim.popen.returncode == -signal.SIGKILL
    assert all(w.running for w in started if w is not victim)
