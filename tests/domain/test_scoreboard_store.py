"""Live state in storage (SPEC §12): scoreboards and kept incidents, on SQLite or PostgreSQL."""

from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from domain.commands import StreamId
from domain.fixtures import Fixture
from domain.models import KeptIncident, StoredScoreboard
from domain.scoreboard import Scoreboard, apply_incident, encode_scoreboard, start
from domain.scoreboard_store import (
    Delivered,
    appended_at,
    apply_update,
    keep_round,
    kept_incidents,
    stored_boards,
    trim_boards,
    trim_incidents,
)
from domain.settings import DEFAULT_SET_SPORTS
from tests.fixture_factory import BEGAN, fixture, incident, recorded
from tests.support import add_fixtures


# The demo's match day starts here; entries are appended a second apart from it.
def pure_fold(fixtures: list[Fixture], incidents: list[Delivered]) -> dict[int, Scoreboard]:
    boards = {f.fixture_id: start(f) for f in fixtures}
    for item in incidents:
        board = boards[item.fixture_id]
        boards[item.fixture_id] = apply_incident(
            board, msgspec.json.decode(item.body), appended_at(item.entry_id)
        )
    return boards


async def keep_in_rounds(engine: AsyncEngine, incidents: list[Delivered], size: int) -> None:
    for first in range(0, len(incidents), size):
        async with engine.begin() as conn:
            await conn.run_sync(keep_round, incidents[first : first + size], DEFAULT_SET_SPORTS)


async def test_boards_kept_round_by_round_equal_the_pure_fold_and_incidents_are_kept_as_they_came(
    engine: AsyncEngine,
) -> None:
    fixtures, incidents = recorded(seed=3)
    await add_fixtures(engine, fixtures)
    await keep_in_rounds(engine, incidents, size=37)
    async with engine.connect() as conn:
        assert await stored_boards(conn) == pure_fold(fixtures, incidents)
        for f in fixtures:
            assert await kept_incidents(conn, f.fixture_id) == [
                i for i in incidents if i.fixture_id == f.fixture_id
            ]


async def test_a_repeated_round_changes_nothing(engine: AsyncEngine) -> None:
    fixtures, incidents = recorded(seed=4)
    await add_fixtures(engine, fixtures)
    await keep_in_rounds(engine, incidents[:300], size=100)
    before = await _rows(engine)
    # A crash after the store and before the commit in Redis: the last round again, then the same with a
    # round that overlaps it.
    async with engine.begin() as conn:
        assert await conn.run_sync(keep_round, incidents[200:300], DEFAULT_SET_SPORTS) == 0
    assert await _rows(engine) == before
    await keep_in_rounds(engine, incidents[250:], size=100)
    async with engine.connect() as conn:
        assert await stored_boards(conn) == pure_fold(fixtures, incidents)


async def _rows(engine: AsyncEngine) -> tuple[list[object], list[object]]:
    async with engine.connect() as conn:
        boards = await conn.execute(select(StoredScoreboard).order_by(col(StoredScoreboard.fixture_id)))
        kept = await conn.execute(select(func.count()).select_from(KeptIncident))
        return [tuple(row) for row in boards], [kept.scalar_one()]


async def test_a_fixture_update_reaches_an_existing_board_and_starts_none(engine: AsyncEngine) -> None:
    playing, waiting = fixture(1, status=2, last_update=BEGAN), fixture(2, status=1, last_update=BEGAN)
    await add_fixtures(engine, [playing, waiting])
    async with engine.begin() as conn:
        await conn.run_sync(
            keep_round, [Delivered(StreamId(1, 0), 1, msgspec.json.encode(incident(10, 1)))], ()
        )
    finished = msgspec.structs.replace(playing, status=3, last_update=BEGAN + timedelta(hours=2))
    async with engine.begin() as conn:
        assert await conn.run_sync(apply_update, finished)
        assert not await conn.run_sync(apply_update, finished)
        assert not await conn.run_sync(apply_update, msgspec.structs.replace(waiting, status=2))
    async with engine.connect() as conn:
        boards = await stored_boards(conn)
        status = await conn.scalar(select(col(StoredScoreboard.status)))
    assert list(boards) == [1]
    assert (boards[1].fixture, boards[1].last_incident_id, status) == (finished, 10, 3)


async def test_a_round_brings_a_board_up_to_its_stored_fixture(engine: AsyncEngine) -> None:
    await add_fixtures(engine, [fixture(1, status=1, last_update=BEGAN)])
    async with engine.begin() as conn:
        await conn.run_sync(
            keep_round, [Delivered(StreamId(1, 0), 1, msgspec.json.encode(incident(10, 1)))], ()
        )
    playing = fixture(1, status=2, last_update=BEGAN + timedelta(minutes=1))
    await add_fixtures(engine, [playing])  # as `livescore fixtures import` stores it: no board touched
    async with engine.begin() as conn:
        await conn.run_sync(
            keep_round, [Delivered(StreamId(2, 0), 1, msgspec.json.encode(incident(11, 1)))], ()
        )
        boards = await stored_boards(conn)
    assert (boards[1].fixture, boards[1].last_incident_id) == (playing, 11)


async def test_trimming_drops_incidents_and_finished_boards_older_than_the_window(
    engine: AsyncEngine,
) -> None:
    now = datetime(2030, 1, 10, tzinfo=UTC)
    statuses = {1: 2, 2: 3, 3: 5, 4: 3}
    fixtures = [fixture(i, status=status, last_update=BEGAN) for i, status in statuses.items()]
    await add_fixtures(engine, fixtures)
    old, recent = now - timedelta(hours=73), now - timedelta(hours=71)
    rows = [
        Delivered(StreamId(int(at.timestamp() * 1000), 0), f, msgspec.json.encode(incident(n, f)))
        for n, (at, f) in enumerate([(old, 1), (recent, 1), (old, 2)])
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, rows, ())
        # Boards last written before the window, but fixture 4's within it.
        await conn.execute(delete(StoredScoreboard))
        await conn.execute(
            insert(StoredScoreboard),
            [
                {
                    "fixture_id": f.fixture_id,
                    "status": f.status,
                    "board": encode_scoreboard(start(f)),
                    "updated_at": recent if f.fixture_id == 4 else old,
                }
                for f in fixtures
            ],
        )
    since = now - timedelta(hours=72)
    async with engine.begin() as conn:
        assert (await trim_incidents(conn, since, batch=100), await trim_boards(conn, since)) == (2, 2)
        assert (await trim_incidents(conn, since, batch=100), await trim_boards(conn, since)) == (0, 0)
        boards = await stored_boards(conn)
        kept = await kept_incidents(conn, 1)
    # In progress stays whatever its age; finished (3) and postponed (5) go once past the window.
    assert sorted(boards) == [1, 4]
    assert kept == [rows[1]]


async def test_incidents_are_trimmed_in_batches_of_about_the_size_asked_oldest_first(
    engine: AsyncEngine,
) -> None:
    await add_fixtures(engine, [fixture(1, status=2, last_update=BEGAN)])
    # Ten incidents a millisecond apart, and two more sharing the last one's millisecond.
    rows = [
        Delivered(StreamId(1000 + min(n, 9), n), 1, msgspec.json.encode(incident(n, 1))) for n in range(12)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, rows, ())
    since = datetime.fromtimestamp(2, UTC)
    async with engine.begin() as conn:
        assert await trim_incidents(conn, since, batch=4) == 4
        assert await kept_incidents(conn, 1) == rows[4:]
        # The batch ends in a millisecond that two more incidents share: those go with it.
        assert await trim_incidents(conn, since, batch=6) == 8
        assert await trim_incidents(conn, since, batch=6) == 0
