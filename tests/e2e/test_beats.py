"""Keep-alive and heartbeat with three real worker processes: one round per interval for the whole
deployment, every active package in each round, and the duty handed over when a worker dies."""

import math
import signal
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.fixture_store import store_fixtures
from domain.streams import fixtures_queue, incidents_queue, interval_turn
from tests.e2e.processes import Processes, Worker
from tests.fixture_factory import FOOTBALL, TENNIS, fixture
from tests.support import eventually

# Not started, in progress, finished, about to start, in progress — football and tennis.
FIXTURES = [
    fixture(1, status=1),
    fixture(2, status=2),
    fixture(3, status=3),
    fixture(4, status=9),
    fixture(5, status=2, sport=TENNIS, league=3001),
]
# Package id → (active, subscriptions, the ActiveEvents it should be told).
PACKAGES: dict[int, tuple[bool, dict[str, list[int]], list[int]]] = {
    1: (True, {}, [2, 4, 5]),
    2: (True, {"sports": [FOOTBALL]}, [2, 4]),
    3: (True, {"sports": [TENNIS]}, [5]),
    4: (False, {}, []),
}
INTERVAL_S = 1
EVERY_SECOND = {"LIVESCORE_KEEPALIVE_S": str(INTERVAL_S), "LIVESCORE_HEARTBEAT_S": str(INTERVAL_S)}
ROUNDS = 3
# Generous for a loaded 2-core machine, far below a hang.
TIMEOUT_S = 30


class Header(msgspec.Struct, forbid_unknown_fields=True):
    MessageId: str
    Timestamp: str
    MessageType: int


class Heartbeat(msgspec.Struct, forbid_unknown_fields=True):
    header: Header


class KeepAliveBody(msgspec.Struct, forbid_unknown_fields=True):
    ActiveEvents: list[int]


class KeepAlive(msgspec.Struct, forbid_unknown_fields=True):
    header: Header
    body: KeepAliveBody


async def _prepare(storage: AsyncEngine) -> None:
    async with storage.begin() as conn:
        await store_fixtures(conn, FIXTURES)
        for package_id, (active, subscriptions, _) in PACKAGES.items():
            await packages.add_package(
                conn, package_id, f"u{package_id}", "pw", active=active, **subscriptions
            )


async def _heartbeats(redis: Redis, package_id: int) -> list[Heartbeat]:
    entries: Any = await redis.xrange(incidents_queue(package_id))
    return [msgspec.json.decode(fields[b"message"], type=Heartbeat) for _, fields in entries]


async def _keep_alives(redis: Redis, package_id: int) -> list[KeepAlive]:
    entries: Any = await redis.xrange(fixtures_queue(package_id))
    return [msgspec.json.decode(fields[b"message"], type=KeepAlive) for _, fields in entries]


async def _rounds(redis: Redis) -> int:
    """Rounds of both kinds that reached every active package (the fewest of any queue)."""
    active = [p for p, (is_active, _, _) in PACKAGES.items() if is_active]
    counts = [len(await _heartbeats(redis, p)) for p in active]
    counts += [len(await _keep_alives(redis, p)) for p in active]
    return min(counts)


def _one_per_interval(timestamps: list[str]) -> None:
    """As many rounds as intervals spanned: one more for a round sent right at a boundary, two fewer for
    that and the round the killed worker had claimed. Three workers each sending would be three times."""
    seconds = [datetime.fromisoformat(t).timestamp() for t in timestamps]
    spanned = math.floor(seconds[-1] / INTERVAL_S) - math.floor(seconds[0] / INTERVAL_S) + 1
    assert spanned - 2 <= len(seconds) <= spanned + 1, (len(seconds), spanned)


async def test_three_workers_send_one_keep_alive_and_one_heartbeat_per_interval_to_each_active_package(
    processes: Processes, redis: Redis, storage: AsyncEngine
) -> None:
    await _prepare(storage)
    workers = await processes.workers(3, **EVERY_SECOND)
    await eventually(lambda: _at_least(redis, ROUNDS), TIMEOUT_S, "rounds reached every package")
    victim = await _last_sender(redis, workers)
    victim.signal(signal.SIGKILL)
    await victim.exited(5)
    before = await _rounds(redis)
    await eventually(lambda: _at_least(redis, before + ROUNDS), TIMEOUT_S, "rounds go on without it")
    for worker in workers:
        worker.stop()
    for worker in workers:
        await worker.exited(10)

    heartbeat_rounds = []
    for package_id, (active, _, events) in PACKAGES.items():
        heartbeats, keep_alives = await _heartbeats(redis, package_id), await _keep_alives(redis, package_id)
        if not active:
            assert (heartbeats, keep_alives) == ([], [])
            continue
        assert {h.header.MessageType for h in heartbeats} == {32}
        assert {k.header.MessageType for k in keep_alives} == {31}
        assert all(k.body.ActiveEvents == events for k in keep_alives), package_id
        _one_per_interval([h.header.Timestamp for h in heartbeats])
        _one_per_interval([k.header.Timestamp for k in keep_alives])
        heartbeat_rounds.append([h.header.MessageId for h in heartbeats])
    # A round's heartbeat is one message for every package: each queue got the same rounds, each once.
    assert all(ids == heartbeat_rounds[0] for ids in heartbeat_rounds)
    assert len(set(heartbeat_rounds[0])) == len(heartbeat_rounds[0])


async def _at_least(redis: Redis, rounds: int) -> bool:
    return await _rounds(redis) >= rounds


async def _last_sender(redis: Redis, workers: list[Worker]) -> Worker:
    """The worker that claimed the latest heartbeat interval."""
    found: Any = await redis.keys(interval_turn("heartbeat", 0).removesuffix("0") + "*")
    latest = max(found, key=lambda key: int(key.rsplit(b":", 1)[1]))
    sender: Any = await redis.get(latest)
    return next(w for w in workers if w.consumer == sender.decode())
