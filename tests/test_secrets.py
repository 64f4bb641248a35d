"""Secrets never reach a log line, a stream, a response, CLI output or an exception message."""

import logging
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from domain.logs import ContextFilter, JsonFormatter
from tests.support import Cli, dump_redis

SECRET, NEW_SECRET, GUESS = "s3cret-pass-XYZ", "n3w-s3cret-QRS", "gu3ss-ABC"
BODY = {"packageId": 77, "username": "owner@example.com", "password": SECRET}


@pytest.mark.usefixtures("worker")
async def test_no_secret_leaks_anywhere(
    client: httpx.AsyncClient,
    redis: Redis,
    cli: Cli,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(ContextFilter())
    caplog.handler.setFormatter(JsonFormatter())
    outputs: list[str] = []
    with caplog.at_level(logging.DEBUG):
        outputs.append(
            await output_of(
                cli,
                "package",
                "add",
                "--id",
                "77",
                "--username",
                "owner@example.com",
                "--password",
                SECRET,
                "--active",
            )
        )
        outputs += await exercise(client, BODY)
        outputs.append(
            await output_of(cli, "package", "set-password", "--id", "77", "--password", NEW_SECRET)
        )
        outputs += await exercise(client, {**BODY, "password": NEW_SECRET})
        outputs.append(await output_of(cli, "package", "list"))
        outputs.append(await output_of(cli, "dead", "list"))
    stored = (await dump_redis(redis)).decode(errors="replace")
    for secret in (SECRET, NEW_SECRET, GUESS):
        assert secret not in caplog.text
        assert all(secret not in text for text in outputs)
        assert secret not in stored
    assert "$argon2" not in caplog.text + stored + "".join(outputs)


async def output_of(cli: Cli, *args: str) -> str:
    """What the command printed, whether it succeeded or not."""
    return (await cli(*args)).output


async def exercise(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    """Every endpoint with the right password and a wrong one; the texts of all answers."""
    texts = []
    for path in ["package/activate", "package/status", "snapshots/trigger", "package/deactivate"]:
        for attempt in (body, {**body, "password": GUESS}):
            response = await client.post(f"/api/livescore/{path}", json=attempt)
            texts.append(response.text + str(response.headers))
    return texts
