"""One transaction's statements run with as few hand-offs as the driver allows.

Through aiosqlite every statement, fetch and commit is a hand-off to its thread and a wake-up back: some
nine per activation batch, most of a one-command batch's cost (docs/BENCHMARKS.md, "The activation path").
Here a transaction is written as plain synchronous SQLAlchemy over a `Connection`. On SQLite it runs
through the standard library's driver, at once on the event loop when no other writer holds the database
(a small batch's transaction takes about a tenth of a millisecond: less than the hand-off to a thread),
else on a thread of its own that waits its turn, so the loop never waits for a lock. On PostgreSQL asyncpg
has no thread, and the same function runs on the event loop through `AsyncConnection.run_sync`.

On SQLite, worker processes also take turns: each transaction holds an exclusive lock on a file beside
the database (`<database>-writers.lock`) and begins IMMEDIATE, so it owns SQLite's write lock from its
first read. Otherwise two workers read the same packages, one writes, and the other finds its rows
changed and starts again after a pause; and a writer that finds SQLite's lock taken sleeps in SQLite's
busy handler (1, 2, 5, 10 … ms) however soon the lock is free, where the file lock wakes it at once.
"""

import asyncio
import fcntl
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from domain.storage import tune_sqlite
from domain.wal_checkpoints import WalCheckpoints

T = TypeVar("T")
Work = Callable[[Connection], T]


class Transactions(Protocol):
    async def run(self, work: Work[T]) -> T:
        """`work` in one transaction, committed when it returns, rolled back when it raises."""
        ...

    async def close(self) -> None: ...


class OnTheLoop:
    """PostgreSQL (asyncpg): the statements are awaited on the event loop, no thread involved."""

    def __init__(self, engine: AsyncEngine, owned: bool = False) -> None:
        self._engine, self._owned = engine, owned

    async def run(self, work: Work[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        if self._owned:
            await self._engine.dispose()


class OnSQLite:
    """SQLite through the standard library's driver: at once when the database is free, else on a thread.

    `at_once` connections wait for no lock (busy timeout 0); `waiting` ones wait as every SQLite client
    of the service does. One thread is enough: SQLite lets one writer in at a time.
    """

    def __init__(
        self, at_once: Engine, waiting: Engine, writers_lock: str | None, checkpoints: WalCheckpoints | None
    ) -> None:
        self._at_once, self._waiting = at_once, waiting
        self._checkpoints = checkpoints
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-transactions")
        # This process's transactions one at a time (the file lock is the process's, shared by its
        # threads), whichever way they run.
        self._mine = threading.Lock()
        self._lock_path = writers_lock
        self._lock_fd: int | None = None

    async def run(self, work: Work[T]) -> T:
        if self._mine.acquire(blocking=False):
            try:
                done = self._now(work)
            finally:
                self._mine.release()
            if done is not _BUSY:
                return cast(T, done)
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_turn, work)

    def _now(self, work: Work[T]) -> "T | _Busy":
        if not self._file_lock(blocking=False):
            return _BUSY
        try:
            with self._at_once.connect() as conn:
                try:
                    transaction = conn.begin()
                except OperationalError:  # another process (the command line) writes: wait on the thread
                    return _BUSY
                with transaction:
                    return work(conn)
        finally:
            self._file_unlock()

    def _in_turn(self, work: Work[T]) -> T:
        with self._mine:
            self._file_lock(blocking=True)
            try:
                with self._waiting.begin() as conn:
                    return work(conn)
            finally:
                self._file_unlock()

    def _file_lock(self, blocking: bool) -> bool:
        """This process's turn among the writers of the database file (always, for an in-memory one)."""
        if self._lock_path is None:
            return True
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def _file_unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    async def close(self) -> None:
        # A transaction still running (its caller was cancelled) finishes before the engines go.
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown)
        self._at_once.dispose()
        self._waiting.dispose()
        if self._checkpoints is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpoints.stop)
        if self._lock_fd is not None:
            os.close(self._lock_fd)


class _Busy:
    """Another writer holds the database: the transaction must wait its turn."""


_BUSY = _Busy()


def open_transactions(engine: AsyncEngine) -> Transactions:
    """Transactions on the storage `engine` opened, by the fastest path its driver offers."""
    if engine.dialect.name != "sqlite":
        # Without the pool's ping before each checkout, a fifth of a small batch's round trips: a
        # connection that died with a server restart fails its transaction, which the worker waits out
        # and tries again (worker/outages.py) on a fresh one (the pool drops the dead ones).
        url = engine.url.render_as_string(hide_password=False)
        return OnTheLoop(create_async_engine(url, pool_pre_ping=False), owned=True)
    database = engine.url.database
    in_file = bool(database) and database != ":memory:" and not str(database).startswith("file::memory")
    if not in_file:
        return OnSQLite(_sqlite(engine, busy_timeout_ms=0), _sqlite(engine), None, None)
    # Checkpoints on a thread of their own, not in a commit on the loop (domain/wal_checkpoints.py).
    at_once = _sqlite(engine, busy_timeout_ms=0, own_checkpoints=False)
    waiting = _sqlite(engine, own_checkpoints=False)
    return OnSQLite(at_once, waiting, f"{database}-writers.lock", WalCheckpoints(str(database)))


def _sqlite(engine: AsyncEngine, busy_timeout_ms: int | None = None, own_checkpoints: bool = True) -> Engine:
    """A standard-library-driver engine on `engine`'s database, beginning its transactions IMMEDIATE."""
    sync_engine = create_engine(engine.url.set(drivername="sqlite"))

    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        tune_sqlite(dbapi_connection, record)
        if busy_timeout_ms is not None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if not own_checkpoints:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        # BEGIN is left to SQLAlchemy's `begin` event below; the driver would begin a deferred
        # transaction itself at the first write, after the reads.
        dbapi_connection.isolation_level = None

    event.listen(sync_engine, "connect", on_connect)
    event.listen(sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return sync_engine
