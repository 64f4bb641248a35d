"""The worker keeps the live state (SPEC §12): scoreboards built from delivered incidents, kept incidents,
fixture updates on the boards, and the recovery window's trim."""

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import StreamId
from domain.fixtures import Fixture
from domain.messages import MessageType, envelope
from domain.scoreboard_store import Delivered, keep_round, kept_incidents, stored_boards
from domain.settings import Settings
from domain.streams import INCIDENTS_STREAM, incidents_queue
from tests.fixture_factory import BEGAN, fixture, incident, recorded
from tests.support import (
    add_fixtures,
    add_package,
    eventually,
    folded_from_the_stream,
    hold,
    publish_update,
    worker_resources,
)
from worker.app import create_app as create_worker
from worker.housekeeping import trim_live_state


@pytest.fixture
async def live_worker(settings: Settings) -> AsyncIterator[None]:
    async for _ in hold(create_worker(settings, consumer="live-state-test")):
        yield


async def append(redis: Redis, bodies: list[bytes]) -> None:
    pipe = redis.pipeline(transaction=False)
    for body in bodies:
        pipe.xadd(INCIDENTS_STREAM, {"message": envelope(MessageType.INCIDENT, body).body})
    await pipe.execute()


async def boards_complete(engine: AsyncEngine, expected: dict[int, Any]) -> bool:
    async with engine.connect() as conn:
        boards = await stored_boards(conn)
    last = {f: b.last_incident_id for f, b in boards.items()}
    return last == {f: b.last_incident_id for f, b in expected.items()}


@pytest.mark.usefixtures("live_worker")
async def test_the_boards_a_worker_stores_from_a_recorded_match_day_equal_the_pure_fold(
    engine: AsyncEngine, redis: Redis
) -> None:
    fixtures, incidents = recorded(seed=5)
    await add_fixtures(engine, fixtures)
    await add_package(engine, 1, active=True)
    # Appended as the feed does, in bursts, while the worker reads.
    for first in range(0, len(incidents), 150):
        await append(redis, [item.body for item in incidents[first : first + 150]])
    expected = await folded_from_the_stream(redis, fixtures)
    await eventually(lambda: boards_complete(engine, expected), 30, "every incident folded")
    async with engine.connect() as conn:
        assert await stored_boards(conn) == expected
        kept = [item.body for f in fixtures for item in await kept_incidents(conn, f.fixture_id)]
    assert sorted(kept) == sorted(item.body for item in incidents)


async def test_a_round_stored_by_a_worker_that_died_before_delivering_is_delivered_and_changes_nothing(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    fixtures, incidents = recorded(seed=6)
    await add_fixtures(engine, fixtures)
    await add_package(engine, 1, active=True)
    await append(redis, [item.body for item in incidents])
    # What a worker stored of its first round before it died: nothing delivered, no offset committed.
    entries: Any = await redis.xrange(INCIDENTS_STREAM, count=100)
    stored = [
        Delivered(StreamId.parse(entry_id), i.fixture_id, i.body)
        for (entry_id, _), i in zip(entries, incidents, strict=False)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, stored, settings.set_sports)
    expected = await folded_from_the_stream(redis, fixtures)
    async for _ in hold(create_worker(settings, consumer="live-state-next")):
        await eventually(lambda: boards_complete(engine, expected), 30, "every incident folded")
        await eventually(lambda: _delivered(redis, len(incidents)), 30, "every incident delivered")
    async with engine.connect() as conn:
        assert await stored_boards(conn) == expected
        kept = [item for f in fixtures for item in await kept_incidents(conn, f.fixture_id)]
    assert len(kept) == len(incidents)
    assert await redis.xlen(incidents_queue(1)) == len(incidents)


async def _delivered(redis: Redis, count: int) -> bool:
    return await redis.xlen(incidents_queue(1)) >= count


@pytest.mark.usefixtures("live_worker")
async def test_a_fixture_update_reaches_the_board_its_incidents_started(
    engine: AsyncEngine, redis: Redis
) -> None:
    playing = fixture(1, status=2, last_update=BEGAN)
    await add_fixtures(engine, [playing])
    await append(redis, [msgspec.json.encode(incident(10, 1))])
    await eventually(lambda: board_shows(engine, playing), 10, "the incident's board")
    finished = msgspec.structs.replace(playing, status=3, last_update=BEGAN + timedelta(hours=2))
    await publish_update(redis, finished)
    await eventually(lambda: board_shows(engine, finished), 10, "the update on the board")
    async with engine.connect() as conn:
        assert (await stored_boards(conn))[1].last_incident_id == 10


async def board_shows(engine: AsyncEngine, version: Fixture) -> bool:
    async with engine.connect() as conn:
        board = (await stored_boards(conn)).get(version.fixture_id)
    return board is not None and board.fixture == version


async def test_housekeeping_trims_by_the_recovery_window_setting(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(1, status=2, last_update=BEGAN)])
    now = datetime.now(UTC)
    kept = [
        Delivered(StreamId(int((now - age).timestamp() * 1000), 0), 1, msgspec.json.encode(incident(n, 1)))
        for n, age in enumerate([timedelta(minutes=90), timedelta(minutes=30)])
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, kept, ())
    res = worker_resources(dataclasses.replace(settings, recovery_hours=1), engine, redis)
    assert await trim_live_state(res) == (1, 0)
    async with engine.connect() as conn:
        assert await kept_incidents(conn, 1) == kept[1:]
