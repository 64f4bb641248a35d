"""Running a CLI job: storage and Redis opened and closed around it, every failure one line on stderr."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import LivescoreError
from domain.settings import Settings
from domain.storage import open_engine

T = TypeVar("T")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings `livescore` read once, when it started (or the ones a test handed in as `obj`)."""
    settings: Settings = ctx.find_root().obj
    return settings


def fail(message: str) -> NoReturn:
    typer.echo(f"livescore: {message}", err=True)
    raise typer.Exit(1)


def run(job: Coroutine[Any, Any, T]) -> T:
    """Run one async job; any failure becomes one line on stderr and exit status 1.

    Storage errors show the database's own message (never the statement or its parameters, which may
    hold a password hash).
    """
    try:
        return asyncio.run(job)
    except IntegrityError:
        fail("that package already exists")
    except LivescoreError as exc:
        fail(exc.message)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__)[:200]
        fail(f"storage error: {type(exc).__name__}: {reason}")
    except (RedisError, OSError) as exc:
        fail(f"cannot reach Redis or storage: {exc}")


async def in_transaction(settings: Settings, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    engine = open_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await job(conn)
    finally:
        await engine.dispose()
