"""`livescore queue read`: the oldest, the newest, following, and over AMQP without taking anything away."""

import asyncio
import dataclasses
import json
import subprocess
import sys
from typing import Any

import aio_pika
import pytest
from redis.asyncio import Redis

from domain.settings import Settings
from domain.streams import amqp_queue, fixtures_queue
from tests.rabbitmq_server import SessionNode
from tests.support import Cli, eventually

QUEUE = fixtures_queue(9)


async def fill(redis: Redis, first: int, last: int) -> None:
    for n in range(first, last + 1):
        await redis.xadd(QUEUE, {"message": json.dumps({"n": n})})


def numbers(output: str) -> list[int]:
    return [json.loads(line)["n"] for line in output.splitlines()]


async def test_last_prints_the_newest_oldest_first(cli: Cli, redis: Redis) -> None:
    await fill(redis, 1, 5)
    assert numbers(await cli.output("queue", "read", "--package", "9", "--last", "2")) == [4, 5]
    assert numbers(await cli.output("queue", "read", "--package", "9", "--count", "2")) == [1, 2]


async def test_count_and_last_together_is_one_line_of_error(cli: Cli) -> None:
    result = await cli("queue", "read", "--package", "9", "--count", "1", "--last", "1")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "livescore: give --count (the oldest) or --last (the newest), not both"
    ]


async def test_follow_alone_prints_only_what_arrives_afterwards(settings: Settings, redis: Redis) -> None:
    await fill(redis, 1, 3)
    env = {"REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url}
    before = await _client_ids(redis)
    reader = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "queue",
        "read",
        "--package",
        "9",
        "--follow",
        env={**_base_env(), **env},
        stdout=subprocess.PIPE,
    )
    try:
        # Following once it blocks in XREAD: its starting point (the newest entry then) is taken by then.
        await eventually(lambda: _blocked_in_xread(redis, before), what="the reader following the queue")
        await fill(redis, 4, 5)
        assert reader.stdout is not None
        lines = [await asyncio.wait_for(reader.stdout.readline(), 15) for _ in range(2)]
    finally:
        reader.terminate()
        await reader.wait()
    assert [json.loads(line)["n"] for line in lines] == [4, 5]


async def _client_ids(redis: Redis) -> set[str]:
    clients: Any = await redis.client_list()
    return {str(client["id"]) for client in clients}


async def _blocked_in_xread(redis: Redis, before: set[str]) -> bool:
    """Whether a client that was not there `before` (the reader's, not one an earlier test left idle
    after an XREAD) is blocked in XREAD now."""
    clients: Any = await redis.client_list()
    return any(
        str(client["id"]) not in before and client.get("cmd") == "xread" and "b" in client.get("flags", "")
        for client in clients
    )


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("LIVESCORE_")}


async def test_over_amqp_read_shows_the_queue_and_leaves_it_whole(
    rabbitmq: SessionNode, settings: Settings, redis: Redis
) -> None:
    amqp = dataclasses.replace(rabbitmq.settings(settings), delivery="amqp")
    url = amqp.amqp_url.rstrip("/") + "/" + amqp.amqp_fixtures_vhost
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(9), durable=True)
        for n in range(1, 4):
            message = aio_pika.Message(json.dumps({"n": n}).encode())
            await channel.default_exchange.publish(message, routing_key=amqp_queue(9))
        printed = await Cli(amqp).output("queue", "read", "--package", "9", "--count", "2")
        left: Any = await channel.declare_queue(amqp_queue(9), passive=True)
        await queue.delete(if_unused=False, if_empty=False)
    assert numbers(printed) == [1, 2]
    assert left.declaration_result.message_count == 3


@pytest.mark.usefixtures("redis")
async def test_over_amqp_follow_is_refused_in_one_line(settings: Settings) -> None:
    result = await Cli(dataclasses.replace(settings, delivery="amqp"))(
        "queue", "read", "--package", "9", "--follow"
    )
    assert result.exit_code == 1
    assert "--follow reads Redis streams only" in result.output
