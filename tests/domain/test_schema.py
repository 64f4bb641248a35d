"""The migrations build exactly the schema the models describe."""

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import domain.models  # noqa: F401 - registers the tables
import migrations
from domain.commands import StreamId
from domain.fixture_store import count_fixtures
from domain.scoreboard_store import Delivered, keep_round, stored_boards
from migrations import schema
from tests.fixture_factory import fixture, incident
from tests.support import add_fixtures


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_the_live_state_migration_goes_down_and_up_on_a_database_in_use(
    database_url: str, engine: AsyncEngine
) -> None:
    await add_fixtures(engine, [fixture(1, status=2)])
    body = msgspec.json.encode(incident(10, 1))
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, [Delivered(StreamId(1, 0), 1, body)], ())
    await engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url)
    # Alembic's environment runs its own event loop: on a thread of its own, outside the test's.
    await asyncio.to_thread(command.downgrade, config, "0003")
    async with engine.connect() as conn:
        assert not await conn.run_sync(lambda sync: inspect(sync).has_table("scoreboards"))
    await asyncio.to_thread(schema.upgrade, database_url)
    async with engine.connect() as conn:
        assert await stored_boards(conn) == {}
        assert await count_fixtures(conn) == 1
