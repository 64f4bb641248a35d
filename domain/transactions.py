"""One transaction's statements run with as few hand-offs as the driver allows.

Through aiosqlite every statement, fetch and commit is a hand-off to its thread and a wake-up back: some
nine per activation batch, most of a one-command batch's cost (docs/BENCHMARKS.md, "The activation path").
Here a transaction is written as plain synchronous SQLAlchemy over a `Connection` and run whole on
SQLite's own thread through the standard library driver, one hand-off in all; on PostgreSQL asyncpg has
no thread, and the same function runs on the event loop through `AsyncConnection.run_sync`.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.storage import tune_sqlite

T = TypeVar("T")
Work = Callable[[Connection], T]


class Transactions(Protocol):
    async def run(self, work: Work[T]) -> T:
        """`work` in one transaction, committed when it returns, rolled back when it raises."""
        ...

    async def close(self) -> None: ...


class OnTheLoop:
    """PostgreSQL (asyncpg): the statements are awaited on the event loop, no thread involved."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, work: Work[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        """The engine belongs to the caller."""


class OnOneThread:
    """SQLite: the whole transaction on one thread of its own, with the standard library's driver.

    One thread is enough: SQLite lets one writer in at a time, whatever the number of threads.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-transactions")

    async def run(self, work: Work[T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Work[T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        # A transaction still running (its caller was cancelled) finishes before the engine goes.
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown)
        self._engine.dispose()


def open_transactions(engine: AsyncEngine) -> Transactions:
    """Transactions on the storage `engine` opened, by the fastest path its driver offers."""
    if engine.dialect.name != "sqlite":
        return OnTheLoop(engine)
    sync_engine = create_engine(engine.url.set(drivername="sqlite"))
    event.listen(sync_engine, "connect", tune_sqlite)
    return OnOneThread(sync_engine)
