"""The customers' example consumers (docs/clients/), run as a customer runs them against the session's node:
each logs in with its package's credentials, consumes the queue the service made without declaring it
(a declare would be refused, 403) and prints what the service published — over AMQP and over AMQPS."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aio_pika.abc import AbstractChannel

from tests.rabbitmq_server import SessionNode
from tests.support import server_missing
from tests.support_amqp import TIMEOUT_S, Customer, publish

pytestmark = pytest.mark.usefixtures("broker_auth")

CLIENTS = Path(__file__).parents[2] / "docs" / "clients"
FIXTURES, INCIDENTS = "Fixtures", "Incidents"
# What Node's example needs besides itself: it is installed from the lock file, as a customer would.
NODE_FILES = ["package.json", "package-lock.json", "amqplib_consumer.js"]
# `npm ci` fetches one package from the registry: seconds, unless the network is slow.
NPM_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def amqplib_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of Node's example with its dependencies installed by `npm ci`."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        server_missing("Node is not installed (apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("amqplib")
    for name in NODE_FILES:
        shutil.copy(CLIENTS / name, folder / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=NPM_TIMEOUT_S,
    )
    return folder


def pika_command(request: pytest.FixtureRequest) -> list[str]:
    return [sys.executable, str(CLIENTS / "pika_consumer.py")]


def aio_pika_command(request: pytest.FixtureRequest) -> list[str]:
    return [sys.executable, str(CLIENTS / "aio_pika_consumer.py")]


def amqplib_command(request: pytest.FixtureRequest) -> list[str]:
    folder: Path = request.getfixturevalue("amqplib_folder")
    return ["node", str(folder / "amqplib_consumer.js")]


def amqp_tools_command(request: pytest.FixtureRequest) -> list[str]:
    if shutil.which("amqp-consume") is None:
        server_missing("amqp-consume is not installed (apt-get install amqp-tools)")
    return ["bash", str(CLIENTS / "amqp_tools.sh")]


Command = Callable[[pytest.FixtureRequest], list[str]]


def customer_env(node: SessionNode, customer: Customer, tls: bool) -> dict[str, str]:
    """The variables every example reads, as its header documents them."""
    env = {
        **os.environ,
        # Over TLS by the name in the node's certificate, as a customer connects by the feed's host name.
        "AMQP_HOST": "localhost" if tls else "127.0.0.1",
        "AMQP_PORT": str(node.amqps_port if tls else node.amqp_port),
        "AMQP_VHOST": FIXTURES,
        "AMQP_USERNAME": customer.username,
        "AMQP_PASSWORD": customer.password,
        "PACKAGE_ID": str(customer.package_id),
    }
    if tls:
        env["AMQP_CA_FILE"] = str(node.config_dir / "ca.pem")
    return env


async def first_line(command: list[str], env: dict[str, str]) -> tuple[bytes, bytes]:
    """The first line the example prints, and what it said on stderr."""
    lines, stderr = await first_lines(command, env, 1)
    return lines[0], stderr


async def first_lines(command: list[str], env: dict[str, str], count: int) -> tuple[list[bytes], bytes]:
    """The first `count` lines the example prints, and what it said on stderr; then it is stopped, with
    whatever it started (a session of its own: amqp-consume runs a command per message)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        lines = [await asyncio.wait_for(process.stdout.readline(), TIMEOUT_S) for _ in range(count)]
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGTERM)
        await process.wait()
    return lines, await process.stderr.read()


@pytest.mark.parametrize("tls", [False, True], ids=["amqp", "amqps"])
@pytest.mark.parametrize(
    "command",
    [pika_command, aio_pika_command, amqplib_command, amqp_tools_command],
    ids=["pika", "aio-pika", "amqplib", "amqp-tools"],
)
async def test_the_example_consumer_prints_what_the_service_published(
    command: Command,
    tls: bool,
    request: pytest.FixtureRequest,
    rabbitmq: SessionNode,
    new_customer: Callable[..., Awaitable[Customer]],
    service: dict[str, AbstractChannel],
) -> None:
    argv = command(request)
    customer = await new_customer()
    body = json.dumps({"header": {"MessageType": 1}, "body": {"example": request.node.callspec.id}})
    await publish(service[FIXTURES], customer.queue, body.encode())
    line, stderr = await first_line(argv, customer_env(rabbitmq, customer, tls))
    assert line.decode() == body + "\n", stderr.decode()


def _envelope(kind: int, body: dict[str, Any] | None = None) -> bytes:
    header = {"MessageId": f"m-{kind}", "Timestamp": "2030-05-01T15:50:00.000Z", "MessageType": kind}
    return json.dumps({"header": header, **({"body": body} if body is not None else {})}).encode()


def _pair(home: int, away: int) -> list[dict[str, Any]]:
    return [{"position": 1, "value": str(home)}, {"position": 2, "value": str(away)}]


FIRST_HALF, SECOND_HALF = {"id": 1, "name": "1st Half"}, {"id": 2, "name": "2nd Half"}
# What a recovery (SPEC §12) puts on a package's incidents queue for one match: its scoreboard (2–1 at half
# time), a live incident after it (a goal of the away side in the second half), that incident again (a
# repeat is allowed), a heartbeat, then the completion.
SCOREBOARD = {
    "fixtureId": 5,
    "status": 2,
    "fixture": {"participants": [{"id": 1, "name": "Home", "position": 1}]},
    "period": FIRST_HALF,
    "seconds": 2700,
    "results": _pair(2, 1),
    "periods": [{**FIRST_HALF, "finished": True, "results": _pair(2, 1)}],
    "statistics": [],
    "lastIncidentId": 40,
    "updated": "2030-05-01T15:45:00.000Z",
}
GOAL = {
    "id": 41,
    "fixtureId": 5,
    "kind": "Score",
    "confidence": 1.0,
    "period": SECOND_HALF,
    "values": _pair(0, 1),
}
RECOVERY = [
    _envelope(4, SCOREBOARD),
    _envelope(2, GOAL),
    _envelope(2, GOAL),
    _envelope(32),
    _envelope(101, {"requestId": "r-1", "fixtureCount": 1, "incidentCount": 0}),
]


@pytest.mark.parametrize(
    "command", [pika_command, aio_pika_command, amqplib_command], ids=["pika", "aio-pika", "amqplib"]
)
async def test_the_example_consumer_keeps_the_score_from_a_scoreboard_and_the_incidents_after_it(
    command: Command,
    request: pytest.FixtureRequest,
    rabbitmq: SessionNode,
    new_customer: Callable[..., Awaitable[Customer]],
    service: dict[str, AbstractChannel],
) -> None:
    argv = command(request)
    customer = await new_customer()
    await publish(service[INCIDENTS], customer.queue, *RECOVERY)
    env = {**customer_env(rabbitmq, customer, tls=False), "AMQP_VHOST": INCIDENTS}
    lines, stderr = await first_lines(argv, env, len(RECOVERY))
    assert lines == [body + b"\n" for body in RECOVERY]
    assert stderr.decode().splitlines() == [
        "fixture 5: 2–1",
        "fixture 5: 2–2",
        "fixture 5: 2–2",
        "recovery r-1 done: 1 scoreboards, 0 incidents recovered",
    ]
