"""`livescore dev --amqp`'s RabbitMQ node as production's: AMQPS with the folder's own certificate, a node
name per folder so that two folders' `dev` run at once, the same ports after a restart, and a start-up
failure said in one line with nothing left in the folder."""

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.dev_servers import node_name, start_rabbitmq
from domain.settings import Settings
from servers import rabbitmq_node
from tests.support import add_package, server_missing
from tests.support_amqp import serving_broker_auth

pytestmark = pytest.mark.cluster

# A connection over TLS takes milliseconds; anything slower has gone wrong.
TIMEOUT_S = 10


@pytest.fixture(autouse=True)
def rabbitmq_installed() -> None:
    if not rabbitmq_node.installed():
        server_missing(f"RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")


def start(stack: ExitStack, folder: Path) -> tuple[dict[str, str], list[str]]:
    banner: list[str] = []
    return start_rabbitmq(stack, Settings(), banner, folder), banner


async def test_two_folders_run_their_nodes_at_once_each_over_tls_and_keep_their_ports(
    tmp_path: Path, settings: Settings, engine: AsyncEngine
) -> None:
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
    customer = await add_package(engine, 4242)
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda folder: start(stack, folder), folders))
        for (env, banner), folder in zip(started, folders, strict=True):
            ca = folder / ".livescore" / "rabbitmq" / "tls" / "ca.pem"
            assert f"trusting the CA in {ca}" in banner[0], banner
            amqps_port = int(banner[0].split("amqps://127.0.0.1:")[1].split(",")[0])
            async with serving_broker_auth(settings, int(env["LIVESCORE_BROKER_AUTH_PORT"])):
                await connect_over_tls(customer, amqps_port, ca)
        first_env, first_banner = started[0]
    with ExitStack() as stack:
        again_env, again_banner = start(stack, folders[0])
    # A customer's client keeps its URL (AMQPS) and the service's its own (AMQP).
    assert again_banner == first_banner
    assert again_env["LIVESCORE_AMQP_URL"] == first_env["LIVESCORE_AMQP_URL"]
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("erl_crash.dump")))


async def connect_over_tls(customer: dict[str, Any], port: int, ca: Path) -> None:
    """As a customer's client connects: AMQPS trusting the folder's CA, the package's username and
    password (asked of broker-auth by the node)."""
    context = ssl.create_default_context(cafile=str(ca))
    connection = await aio_pika.connect(
        host="127.0.0.1",
        port=port,
        login=customer["username"],
        password=customer["password"],
        virtualhost="Fixtures",
        ssl=True,
        ssl_context=context,
        timeout=TIMEOUT_S,
    )
    async with connection:
        assert not connection.is_closed
        await asyncio.wait_for(connection.channel(), TIMEOUT_S)


def test_a_node_that_cannot_start_is_one_readable_line_and_leaves_no_crash_dump(tmp_path: Path) -> None:
    # The same folder twice: the second node's name is taken by the first.
    with ExitStack() as stack:
        start(stack, tmp_path)
        with pytest.raises(SystemExit) as refused:
            start(ExitStack(), tmp_path)
    message = str(refused.value)
    assert message.startswith(f"livescore: RabbitMQ node {node_name(tmp_path)} exited during start-up"), (
        message
    )
    assert "\n" not in message
    assert f"(its log: {tmp_path / '.livescore' / 'rabbitmq' / 'stdout.log'})" in message
    assert not (tmp_path / "erl_crash.dump").exists()
    assert not Path("erl_crash.dump").exists()
