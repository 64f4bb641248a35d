"""Running a CLI job: storage and Redis opened and closed around it, every failure one line on stderr."""

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import LivescoreError
from domain.logs import redact
from domain.settings import Settings
from domain.storage import open_engine

T = TypeVar("T")

# aiosqlite runs each connection on a thread named after this function. A connection that fails to open
# is stopped without anyone awaiting it: its thread then hands a result to the event loop, and if
# `asyncio.run` has closed the loop by then, it dies with a traceback printed after our one line.
_SQLITE_THREAD = "(_connection_worker_thread)"
# A stopping connection's thread ends within milliseconds; one still serving an open connection (none
# should be, once the job has closed its engine) is not waited for longer than this.
_SQLITE_THREAD_JOIN_S = 5.0


def settings_of(ctx: typer.Context) -> Settings:
    """The settings `livescore` read once, when it started (or the ones a test handed in as `obj`)."""
    settings: Settings = ctx.find_root().obj
    return settings


def fail(message: str) -> NoReturn:
    # A driver's error may quote a URL of the settings, password and all.
    typer.echo(f"livescore: {redact(message)}", err=True)
    raise typer.Exit(1)


# A Redis stream id, whole (`1700000000000-0`) or its milliseconds alone.
_STREAM_ID = re.compile(r"\d+(-\d+)?")


def stream_id(value: str, *ends: str) -> str:
    """`value` if it is a stream id (or one of `ends`, like "-" and "+"); else one line and exit 1."""
    if value not in ends and not _STREAM_ID.fullmatch(value):
        fail(f"not a stream id: {value} (ids look like 1700000000000-0)")
    return value


def run(job: Coroutine[Any, Any, T]) -> T:
    """Run one async job; any failure becomes one line on stderr and exit status 1.

    Storage errors show the database's own message (never the statement or its parameters, which may
    hold a password hash).
    """
    try:
        return asyncio.run(_then_sqlite_threads_ended(job))
    except IntegrityError:
        fail("that package already exists")
    except LivescoreError as exc:
        fail(exc.message)
    except SQLAlchemyError as exc:
        fail(storage_problem(exc))
    except (RedisError, OSError) as exc:
        fail(f"cannot reach Redis or storage: {exc}")


async def _then_sqlite_threads_ended(job: Coroutine[Any, Any, T]) -> T:
    """`job`, then every aiosqlite thread it started finished while the loop still runs to take its last
    result. Only its own: a process running the command in a thread (the tests) has connections of its
    own open, whose threads would each hold the command up for the whole join timeout."""
    before = set(threading.enumerate())
    try:
        return await job
    finally:
        for thread in threading.enumerate():
            if thread.name.endswith(_SQLITE_THREAD) and thread not in before:
                await asyncio.to_thread(thread.join, _SQLITE_THREAD_JOIN_S)


# How SQLite and PostgreSQL say the schema was never created (SQLite's message; asyncpg's class name).
_NO_SCHEMA = ("no such table", "UndefinedTable")


def storage_problem(exc: SQLAlchemyError) -> str:
    """A storage error as one line an operator can act on: the database's own message, never the
    statement or its parameters."""
    original = getattr(exc, "orig", None)
    reason = " ".join(str(original or type(exc).__name__).split())[:200]
    if any(sign in f"{reason} {type(original).__name__}" for sign in _NO_SCHEMA):
        return "the database has no schema yet: run `livescore db upgrade`"
    if "unable to open database file" in reason:
        return (
            "cannot open the SQLite database of DATABASE_URL: "
            "does its directory exist, and may we write there?"
        )
    return f"storage error: {type(exc).__name__}: {reason}"


async def in_transaction(settings: Settings, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    engine = open_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await job(conn)
    finally:
        await engine.dispose()
