"""Transactions on SQLite: at once when the database is free, waiting their turn (without holding up the
event loop) when another writer has it, and workers taking turns instead of colliding."""

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.activation import apply_activations
from domain.commands import ActivatePackage, ChangeActivation, DeactivatePackage, StreamId
from domain.package_status import PackageStatus
from domain.storage import open_engine
from domain.transactions import Transactions, open_transactions
from migrations import schema
from tests.support import PACKAGE_ID, stored_package


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SQLite whatever the suite's storage: these are SQLite's own paths (PostgreSQL's run on the loop)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    schema.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def engine(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite database holding the test package."""
    path = tmp_path / "livescore.db"
    await asyncio.to_thread(shutil.copyfile, sqlite_template, path)
    engine = open_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, "t@example.com", "a password")
    yield engine
    await engine.dispose()


def _thread_name(_: Connection) -> str:
    return threading.current_thread().name


async def test_a_transaction_on_a_free_database_runs_at_once_on_the_loop(engine: AsyncEngine) -> None:
    transactions = open_transactions(engine)
    try:
        assert await transactions.run(_thread_name) == threading.current_thread().name
    finally:
        await transactions.close()


async def test_a_transaction_waits_for_another_writer_without_holding_up_the_loop(
    engine: AsyncEngine,
) -> None:
    # The command line (or any other process) holds SQLite's write lock.
    other = sqlite3.connect(str(engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    transactions = open_transactions(engine)
    try:
        applying = asyncio.create_task(transactions.run(_thread_name))
        ticks = 0
        while ticks < 20:  # the loop goes on while the transaction waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not applying.done()
        other.execute("COMMIT")
        assert (await asyncio.wait_for(applying, 5)).startswith("sqlite-transactions")
    finally:
        other.close()
        await transactions.close()


async def test_workers_on_one_database_take_turns_instead_of_colliding(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:

    def collided(attempt: int) -> float:
        raise AssertionError("two workers collided: a batch was tried again")

    # A collision would be tried again after a pause; here it fails the test instead.
    monkeypatch.setattr("domain.activation._pause", collided)
    second = open_engine(str(engine.url))
    first_worker, second_worker = open_transactions(engine), open_transactions(second)
    commands: list[tuple[StreamId, ChangeActivation]] = [
        (StreamId(1000 + i, 0), (ActivatePackage if i % 2 else DeactivatePackage)(package_id=PACKAGE_ID))
        for i in range(400)
    ]
    try:

        async def apply(transactions: Transactions, mine: list[tuple[StreamId, ChangeActivation]]) -> None:
            for entry, command in mine:
                await apply_activations(transactions, [(entry, command)])

        # Each in its own thread and loop, as two worker processes would run.
        await asyncio.gather(
            asyncio.to_thread(asyncio.run, apply(first_worker, commands[0::2])),
            asyncio.to_thread(asyncio.run, apply(second_worker, commands[1::2])),
        )
    finally:
        await first_worker.close()
        await second_worker.close()
        await second.dispose()
    # The last command in stream order decided, whichever worker applied it last.
    assert (await stored_package(engine)).status == PackageStatus.ACTIVE.value


async def test_a_database_path_gets_its_writers_lock_beside_it(engine: AsyncEngine) -> None:
    transactions = open_transactions(engine)
    try:
        await transactions.run(lambda conn: conn.execute(text("SELECT 1")).scalar())
    finally:
        await transactions.close()
    assert await asyncio.to_thread(Path(f"{engine.url.database}-writers.lock").exists)


def _autocheckpoint(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _fill(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (body BLOB)")
    conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(8000000))")


async def test_the_log_is_checkpointed_by_a_thread_of_its_own_not_in_a_commit(engine: AsyncEngine) -> None:
    """A commit on the loop never copies the write-ahead log back (that stalled incident rounds for
    milliseconds); the checkpoint thread does, within a few seconds."""
    database = Path(str(engine.url.database))
    transactions = open_transactions(engine)
    try:
        assert await transactions.run(_autocheckpoint) == 0
        before = await _size(database)
        await transactions.run(_fill)  # some 2,000 pages: SQLite's own checkpoint would run in this commit
        assert await _size(database) < before + 1_000_000, "checkpointed in the commit"
        deadline = asyncio.get_running_loop().time() + 10
        while await _size(database) < before + 8_000_000:
            assert asyncio.get_running_loop().time() < deadline, "the log was not checkpointed"
            await asyncio.sleep(0.1)
    finally:
        await transactions.close()


async def _size(path: Path) -> int:
    return (await asyncio.to_thread(path.stat)).st_size
