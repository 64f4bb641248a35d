"""A scratch PostgreSQL database for one run: created, migrated, dropped after; a note when unreachable."""

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from migrations import schema

# The server the project's own PostgreSQL tests use; BENCH_POSTGRES_URL names another, empty skips it.
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# An absent server should cost the run seconds, not the driver's default minute.
CONNECT_TIMEOUT_S = 5


class Unavailable(Exception):
    """PostgreSQL cannot be used for this run; the message says why."""


def server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL)


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """The URL of a new, migrated database `bench_<random>` on `server`; dropped whatever happens."""
    if not server:
        raise Unavailable("BENCH_POSTGRES_URL is empty")
    name = f"bench_{secrets.token_hex(6)}"
    try:
        _admin(server, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # any failure to get a database means: no PostgreSQL figures this run
        raise Unavailable(f"cannot create a database on {_safe(server)}: {exc}") from exc
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        schema.upgrade(url)
        yield url
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(server: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(
            server, isolation_level="AUTOCOMMIT", connect_args={"timeout": CONNECT_TIMEOUT_S}
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _safe(server: str) -> str:
    """The server's URL without its password, for a note in the report."""
    return make_url(server).render_as_string(hide_password=True)
