"""`livescore amqp config` and `setup` against the session's real node: what the node runs with, and
setting it up again."""

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from typer.testing import CliRunner

from cli.main import app as livescore
from domain.broker_config import OPERATOR_MARKER
from domain.settings import Settings
from servers.rabbitmq_node import SERVICE_USER
from tests.rabbitmq_server import SessionNode
from tests.support_amqp import TIMEOUT_S, declare, publish, ready_count


async def run(settings: Settings, *args: str) -> Any:
    # In a thread: the CLI runs its own event loop, which cannot nest in the test's.
    return await asyncio.to_thread(CliRunner().invoke, livescore, list(args), obj=settings)


def management(node: SessionNode, path: str) -> Any:
    response = httpx.get(f"http://127.0.0.1:{node.management_port}{path}", auth=("guest", "guest"))
    response.raise_for_status()
    return response.json()


async def test_the_node_runs_with_exactly_what_amqp_config_writes(
    rabbitmq: SessionNode, amqp_settings: Settings, tmp_path: Path
) -> None:
    written = await run(amqp_settings, "amqp", "config", str(tmp_path))
    assert written.exit_code == 0, written.output
    ours = (tmp_path / "rabbitmq.conf").read_text()
    running = (rabbitmq.config_dir / "rabbitmq.conf").read_text()
    assert running.startswith(ours)
    assert ours.endswith(OPERATOR_MARKER + "\n")  # below it, only the test's listeners, TLS and ports
    assert (tmp_path / "enabled_plugins").read_text() == (rabbitmq.config_dir / "enabled_plugins").read_text()
    log = rabbitmq.log()
    assert f" config file(s) : {rabbitmq.config_dir / 'rabbitmq.conf'}\n" in log
    started = log[log.index("Server startup complete; 4 plugins started.") :]
    for plugin in ("rabbitmq_management", "rabbitmq_auth_backend_http"):
        assert f" * {plugin}\n" in started


async def test_amqp_config_again_leaves_the_nodes_file_as_it_is(
    rabbitmq: SessionNode, amqp_settings: Settings
) -> None:
    before = (rabbitmq.config_dir / "rabbitmq.conf").read_text()
    again = await run(amqp_settings, "amqp", "config", str(rabbitmq.config_dir))
    assert again.exit_code == 0, again.output
    assert (rabbitmq.config_dir / "rabbitmq.conf").read_text() == before


async def test_amqp_setup_twice_is_fine_and_the_service_account_works_on_both_vhosts(
    rabbitmq: SessionNode, amqp_settings: Settings
) -> None:
    users_before = management(rabbitmq, "/api/users")
    for _ in range(2):
        result = await run(amqp_settings, "amqp", "setup")
        assert result.exit_code == 0, result.output
        assert f"account {SERVICE_USER}" in result.output
    users = {u["name"]: u["tags"] for u in management(rabbitmq, "/api/users")}
    assert users == {u["name"]: u["tags"] for u in users_before}
    assert users == {"guest": ["administrator"], SERVICE_USER: ["management"]}
    for vhost in ("Fixtures", "Incidents"):
        connection = await aio_pika.connect(rabbitmq.amqp_url + vhost, timeout=TIMEOUT_S)
        async with connection:
            channel = await connection.channel()
            await declare(channel, "_setup_check_", 10)
            await publish(channel, "_setup_check_", b"{}")
            assert await ready_count(channel, "_setup_check_") == 1
            await channel.queue_delete("_setup_check_")


async def test_amqp_setup_with_a_wrong_administrator_password_fails_with_one_line(
    rabbitmq: SessionNode, amqp_settings: Settings
) -> None:
    wrong = dataclasses.replace(
        amqp_settings, amqp_management_url=f"http://guest:not-it@127.0.0.1:{rabbitmq.management_port}"
    )
    result = await run(wrong, "amqp", "setup")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "refused the credentials of LIVESCORE_AMQP_MANAGEMENT_URL" in result.output
    assert "not-it" not in result.output
