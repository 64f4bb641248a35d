"""The live state is the same whatever the number of workers, and across a worker killed mid-flow (SPEC §12).

Worker processes read a recorded match day mixed with a random feed; one of them is killed with SIGKILL
while it delivers. Then every fixture's stored board must equal the pure fold of its incidents in stream
order, and every incident must be kept exactly once.
"""

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
from tests.e2e.incident_feed import FIXTURES, QUICK, feed, kill_one_mid_flow, spread
from tests.e2e.processes import Processes
from tests.fixture_factory import BEGAN, recorded
from tests.support import eventually, folded_from_the_stream

# Stored with a version of their own, so that the expected boards start from the very fixture stored.
LIVE = [msgspec.structs.replace(f, last_update=BEGAN) for f in FIXTURES]
# Generous for a loaded 2-core machine, far below a hang.
SETTLE_TIMEOUT_S = 60


def _messages(seed: int) -> tuple[list[Fixture], list[bytes]]:
    """The fixtures and the feed: a recorded match day's incidents interleaved with a random feed's."""
    day_fixtures, day = recorded(seed)
    random_feed = [message for _, message in feed(seed)]
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
    await eventually(lambda: spread(redis, len(started)), 20, "every worker owns incident partitions")
    victim = await kill_one_mid_flow(redis, started, messages)
    if workers == 1:  # the partitions' new owner
        await processes.worker(**QUICK)

    expected = await folded_from_the_stream(redis, fixtures)
    await eventually(lambda: _settled(storage, expected), SETTLE_TIMEOUT_S, "every incident folded")
    assert await _boards(storage) == expected
    async with storage.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(KeptIncident))).scalar_one()
    assert kept == len(messages)
    assert victim.popen.returncode == -signal.SIGKILL
