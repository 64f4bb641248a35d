"""Secrets never reach a log line, a stream, a response, CLI output or an exception message."""

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from delivery.amqp_nodes import ManagementNodes
from domain.logs import ContextFilter, JsonFormatter, configure_logging
from tests.rabbitmq_server import SessionNode
from tests.support import Cli, console_browser, console_sign_in, dump_redis, free_port

SECRET, NEW_SECRET, GUESS = "s3cret-pass-XYZ", "n3w-s3cret-QRS", "gu3ss-ABC"
BODY = {"packageId": 77, "username": "owner@example.com", "password": SECRET}
# Every setting that is a URL and may hold a password, as an operator writes it (node lists included).
URL_SETTINGS = {
    "LIVESCORE_AMQP_URL": "amqp://svc:amqp-pw-1@10.0.0.1:5672/,amqp://svc:amqp-pw-2@10.0.0.2:5672/",
    "LIVESCORE_AMQP_MANAGEMENT_URL": "http://adm:mgmt-pw-1@10.0.0.1:15672,http://adm:mgmt-pw-2@10.0.0.2:15672",
    "REDIS_URL": "redis://:redis-pw-1@10.0.0.3:6379/0",
    "DATABASE_URL": "postgresql+asyncpg://livescore:db-pw-1@10.0.0.4:5432/livescore",
}
URL_PASSWORDS = ("amqp-pw-1", "amqp-pw-2", "mgmt-pw-1", "mgmt-pw-2", "redis-pw-1", "db-pw-1")
# The console script the package installs beside this interpreter.
LIVESCORE = str(Path(sys.executable).parent / "livescore")


@pytest.mark.usefixtures("worker")
async def test_no_secret_leaks_anywhere(
    client: httpx.AsyncClient,
    app: Litestar,
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
        outputs += await exercise(client, BODY, app)
        outputs.append(
            await output_of(cli, "package", "set-password", "--id", "77", "--password", NEW_SECRET)
        )
        outputs += await exercise(client, {**BODY, "password": NEW_SECRET}, app)
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


async def exercise(client: httpx.AsyncClient, body: dict[str, Any], app: Litestar) -> list[str]:
    """Every endpoint with the right password and a wrong one, and the customer console signed in with
    each and used; the texts of all answers."""
    texts = []
    for path in ["package/activate", "package/status", "snapshots/trigger", "package/deactivate"]:
        for attempt in (body, {**body, "password": GUESS}):
            response = await client.post(f"/api/livescore/{path}", json=attempt)
            texts.append(response.text + str(response.headers))
    return texts + await use_the_console(app, body)


async def use_the_console(app: Litestar, body: dict[str, Any]) -> list[str]:
    """The console signed in with a wrong password, then the right one, and every action; sign-out last."""
    answers = []
    async with console_browser(app) as browser:
        for attempt in ({**body, "password": GUESS}, body):
            answers.append(await console_sign_in(browser, attempt))
        for path in ["activate", "snapshot", "deactivate", "recovery", "sign-out"]:
            answers.append(await browser.post(f"/console/{path}"))
        answers.append(await browser.get("/console/status"))
    assert answers[1].status_code == 200
    return [answer.text + str(answer.headers) for answer in answers]


@pytest.fixture(params=["text", "json"])
def log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Every process's own log set-up (domain/logs.py), into a string; pytest's handlers put back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(request.param, level=logging.DEBUG, stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_no_url_password_reaches_a_log_line_whoever_logs_it(log: io.StringIO) -> None:
    # The loggers of the libraries that see these URLs, and ours; in the message, its arguments and a
    # traceback.
    for name in ("httpx", "httpcore", "aiormq.connection", "aio_pika", "livescore.faststream", "worker"):
        for setting, url in URL_SETTINGS.items():
            logger = logging.getLogger(name)
            logger.warning("%s: connecting to %s", setting, url)
            logger.error(f"failed: {url}")
            try:
                raise ConnectionError(f"cannot connect to {url}")
            except ConnectionError:
                logger.exception("%s unreachable", setting)
    text = log.getvalue()
    assert [p for p in URL_PASSWORDS if p in text] == []
    # Redacted, not dropped: the operator still reads which node it was.
    assert "amqp://svc:***@10.0.0.2:5672/" in text
    assert "redis://:***@10.0.0.3:6379/0" in text


@pytest.mark.rabbitmq
async def test_the_management_api_password_stays_out_of_the_log_of_a_status_lookup(
    rabbitmq: SessionNode, log: io.StringIO
) -> None:
    # As the ingress asks it on an uncached AMQP status: the first node of the list does not answer.
    dead = f"http://guest:mgmt-pw-1@127.0.0.1:{free_port()}"
    nodes = ManagementNodes(f"{dead},{rabbitmq.management_url}", timeout_s=5)
    try:
        assert (await nodes.get("/api/overview")).status_code == 200
    finally:
        await nodes.aclose()
    text = log.getvalue()
    assert "mgmt-pw-1" not in text
    assert "guest:guest@" not in text


@pytest.mark.parametrize("setting", ["REDIS_URL", "DATABASE_URL"])
def test_a_cli_error_about_a_url_setting_names_no_password(setting: str, tmp_path: Path) -> None:
    bad = {
        "REDIS_URL": "http://:redis-pw-1@127.0.0.1:6379/0",
        "DATABASE_URL": "mysql://livescore:db-pw-1@127.0.0.1/livescore",
    }
    environ = {k: v for k, v in os.environ.items() if k not in URL_SETTINGS}
    result = subprocess.run(
        [LIVESCORE, "package", "list"],
        env={**environ, setting: bad[setting]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert setting in result.stderr
    assert [p for p in URL_PASSWORDS if p in result.stdout + result.stderr] == []
