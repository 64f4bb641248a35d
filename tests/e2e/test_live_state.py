"""The live state is the same whatever the number of workers, and across a worker killed mid-flow (SPEC §12).

Worker processes read a recorded match day mixed with a random feed; one of them is killed with SIGKILL
while it delivers. Then every fixture's stored board must equal the pure fold of its incidents in stream
order, and every incident must be kept exactly once.
"""

import asyncio
import signal

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture
from domain.messages import MessageType, envelope
from domain.models import KeptIncident
from domain.scoreboard import Scoreboard
from domain.scoreboard_store import stored_boards
from tests.e2e.processes import Processes
from tests.e2e.test_incident_order import FIXTURES, QUICK, _append, _busy_victim, _feed, _spread
from tests.fixture_factory import BEGAN, recorded
from tests.support import eventually, folded_from_the_stream

# Stored with a version of their own, so that the expected boards start from the very fixture stored.
LIVE = [msgspec.structs.replace(f, last_update=BEGAN) for f in FIXTURES]
# Generous for a loaded 2-core machine, far below a hang.
SETTLE_TIMEOUT_S = 60


def _messages(seed: int) -> tuple[list[Fixture], list[bytes]]:
    """The fixtures and the feed: a recorded match day's incidents interleaved with a random feed's."""
    day_fixtures, day = recorded(seed)
    random_feed = [message for _, message in _feed(seed)]
    day_messages = [envelope(MessageType.INCIDENT, item.body).body for item in day]
    mixed: list[bytes] = []
    for n in range(max(len(day_messages), len(random_feed))):
        mixed += day_messages[n : n + 1] + random_feed[n : n + 1]
    return [*day_fixtures, *LIVE], mixed


async def _boards(storage: AsyncEngine) -> dict[int, Scoreboard]:
    async with storage.connect() as conn:
        return await stored_boards(conn)


async def _settled(storage: AsyncEngine, expected: dict[int, Scoreboard]) -> bool:
    boards = await _boards(storage)
    return {f: b.last_incident_id for f, b in boards.items()} == {
        f: b.last_incident_id for f, b in expected.items()
    }


@pytest.mark.parametrize("workers", [1, 4])
async def test_the_stored_boards_equal_the_pure_fold_whatever_the_workers_and_across_a_sigkill(
    processes: Processes, redis: Redis, storage: AsyncEngine, workers: int
) -> None:
    fixtures, messages = _messages(seed=workers)
    async with storage.begin() as conn:
        await store_fixtures(conn, fixtures)
        await packages.add_package(conn, 1, "u1", "pw", active=True)
    started = await processes.workers(workers, **QUICK)
    await eventually(lambda: _spread(redis, len(started)), 20, "every worker owns incident partitions")
    a_third = asyncio.Event()

    async def produce() -> None:
        for first in range(0, len(messages), 100):
            await _append(redis, messages[first : first + 100])
            if first >= len(messages) // 3:
                a_third.set()
            await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    await a_third.wait()
    victim = await _busy_victim(redis, started)
    victim.signal(signal.SIGKILL)
    await victim.exited(5)
    if workers == 1:
        await processes.worker(**QUICK)
    await producer

    expected = await folded_from_the_stream(redis, fixtures)
    await eventually(lambda: _settled(storage, expected), SETTLE_TIMEOUT_S, "every incident folded")
    assert await _boards(storage) == expected
    async with storage.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(KeptIncident))).scalar_one()
    assert kept == len(messages)
    assert victim.popen.returncode == -signal.SIGKILL
