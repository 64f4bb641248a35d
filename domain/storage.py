"""Opening the SQL storage named by DATABASE_URL: SQLite through aiosqlite, PostgreSQL through asyncpg."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from domain.errors import StorageUnavailable

# aiosqlite logs every statement with its parameters at DEBUG — password hashes included — so it never
# logs below INFO, whatever level the process runs at.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

# Writers wait this long for SQLite's single write lock instead of failing at once, so several worker
# processes and the CLI can share one database file.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def open_engine(database_url: str, **options: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, **options)
        event.listen(engine.sync_engine, "connect", tune_sqlite)
        return engine
    # pool_pre_ping: a PostgreSQL restart leaves dead connections in the pool; test them before use.
    return create_async_engine(database_url, pool_pre_ping=True, **options)


def tune_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the ingress) proceed while a worker writes; NORMAL is durable across process
    # crashes, which is the failure that matters here (an OS crash may lose the last commits only).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# SQLSTATE classes that mean "the server cannot be reached or is going away": 08 connection exception,
# 57P01-03 admin/crash shutdown and "the database system is starting up".
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the storage cannot be reached now (wait and retry), rather than that a statement
    is wrong. Connecting can fail below SQLAlchemy (asyncpg raises OSError or its own errors unwrapped)."""
    if isinstance(exc, OSError | OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(original, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES)


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection to read through; storage that cannot be reached surfaces as StorageUnavailable, the
    same for SQLAlchemy's errors and for a refused connection below it (asyncpg's OSError)."""
    try:
        async with engine.connect() as conn:
            yield conn
    except Exception as exc:
        if unreachable(exc):
            raise StorageUnavailable() from exc
        raise
