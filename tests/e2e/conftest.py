"""Fixtures for end-to-end tests: real service processes, a Redis server of their own, storage to check."""

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.storage import open_engine
from tests.e2e.processes import PersistentRedis, Processes, connect, spawning
from tests.support import server_missing


@pytest.fixture
def processes(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Processes]:
    """Spawns ingress and worker processes against the test's Redis and database; stops them all after."""
    with spawning(redis_url, database_url, tmp_path) as spawner:
        yield spawner


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test's database, to check what the workers committed."""
    engine = open_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[PersistentRedis]:
    """A Redis server of the test's own, persisted to disk, that the test may restart."""
    server = PersistentRedis(tmp_path / "valkey")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(params=["valkey", "redis-server"])
def restartable_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PersistentRedis]:
    """Like `persistent_redis`, once the embedded Valkey and once the machine's `redis-server` (where
    there is none: tests/support.py `server_missing`): Redis 7.0 restores consumer groups from its AOF
    without their read counters."""
    binary = None
    if request.param == "redis-server":
        binary = shutil.which("redis-server")
        if binary is None:
            server_missing("no redis-server on this machine (apt-get install redis-server)")
    server = PersistentRedis(tmp_path / "server", binary)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def persistent_processes(
    persistent_redis: PersistentRedis, database_url: str, tmp_path: Path
) -> Iterator[Processes]:
    """Like `processes`, against the test's own persistent Redis."""
    with spawning(persistent_redis.url, database_url, tmp_path) as spawner:
        yield spawner


@pytest.fixture
async def persistent_client(persistent_redis: PersistentRedis) -> AsyncIterator[Redis]:
    async with connect(persistent_redis.url) as redis:
        yield redis
