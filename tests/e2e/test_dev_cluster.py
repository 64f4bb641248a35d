"""`livescore dev --cluster` as a developer runs it: the banner's `kill -9` of the Redis primary, the
sentinels promote a replica, `/ready` names it and commands are answered again, the demo simulator rides it
out; Ctrl-C stops every server.

About 30 s here: the three RabbitMQ nodes take most of it (start and stop).
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from cli.dev import DEMO_ID, DEMO_PASSWORD, DEMO_USERNAME
from cli.listeners import listener_of
from domain.streams import INCIDENTS_STREAM
from servers import rabbitmq_node, redis_sentinels
from tests.support import free_port, server_missing

pytestmark = pytest.mark.cluster

# Start-up: Redis in a second, the RabbitMQ cluster in 15-30 s, then the ingress and the worker.
START_TIMEOUT_S = 90
# The primary down after 2 s (cli/dev_servers.py), then an election and the promotion; slower when loaded.
FAILOVER_TIMEOUT_S = 30
# Stopping: the processes, then the RabbitMQ nodes flushing their queues.
STOP_TIMEOUT_S = 60
BODY = {"packageId": DEMO_ID, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}


# The banner's line on how customers connect over TLS: every node's amqps URL, then the CA to trust.
CUSTOMERS_TLS = re.compile(r"AMQPS \(TLS\) for customers: (.*), trusting the CA in (\S+)")


@pytest.fixture
def servers_installed() -> None:
    if not rabbitmq_node.installed():
        server_missing(f"RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    if redis_sentinels.REDIS_SERVER is None:
        server_missing(f"no redis-server on this machine ({redis_sentinels.INSTALL_HINT})")


@pytest.mark.usefixtures("servers_installed")
def test_killing_the_redis_primary_of_dev_cluster_as_its_banner_says(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "dev.log"
    dev = _start_dev(tmp_path, port, log)
    try:
        ready = _eventually(lambda: _ready(port), START_TIMEOUT_S, log)
        # The banner's last part (how customers connect) comes once every process is up, which may be
        # after the ingress first answers.
        _eventually(lambda: True if CUSTOMERS_TLS.search(log.read_text()) else None, START_TIMEOUT_S, log)
        banner = log.read_text()
        _tls_handshakes(banner)
        primary_pid = re.search(r"kill the primary with: kill -9 (\d+);", banner)
        assert primary_pid, banner
        os.kill(int(primary_pid[1]), signal.SIGKILL)
        moved = _eventually(lambda: _moved_on(port, ready["redisPrimary"]["pool"]), FAILOVER_TIMEOUT_S, log)
        assert moved["redisPrimary"]["pool"] in banner  # one of the replicas it printed
        # The demo simulator rode the failover out: it appends to the new primary, and `dev` runs on.
        incidents = _incidents(moved["redisPrimary"]["pool"])
        _eventually(lambda: _incidents(moved["redisPrimary"]["pool"]) > incidents or None, 60, log)
        assert dev.poll() is None, log.read_text()[-5000:]
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C: the terminal's whole foreground group
        dev.wait(STOP_TIMEOUT_S)
    assert dev.returncode == 0, log.read_text()
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", log.read_text())]
    assert [p for p in ports if listener_of(p) is not None] == []
    assert not (tmp_path / ".livescore" / "env").exists()
    said = log.read_text()
    # One line when the simulator lost Redis and one when it was back, if a beat fell due meanwhile.
    assert said.count("simulate: Redis unreachable") == said.count("simulate: Redis back") <= 1, said
    assert "a process exited" not in said


def _tls_handshakes(banner: str) -> None:
    """Every node's AMQPS listener the banner prints presents a certificate the printed CA vouches for."""
    said = CUSTOMERS_TLS.search(banner)
    assert said, banner
    ports = [int(port) for port in re.findall(r"amqps://127\.0\.0\.1:(\d+)", said[1])]
    assert len(ports) == 3, said[0]
    context = ssl.create_default_context(cafile=said[2])
    for port in ports:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() is not None


def _incidents(primary: str) -> int:
    host, port = primary.rsplit(":", 1)
    with redis.Redis(host=host, port=int(port), socket_timeout=2) as client:
        return int(client.xlen(INCIDENTS_STREAM))


def _start_dev(cwd: Path, port: int, log: Path) -> "subprocess.Popen[bytes]":
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PORT"}}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "dev", "--cluster", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _ready(port: int) -> Any:
    answer = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
    return answer.json() if answer.status_code == 200 else None


def _moved_on(port: int, old: str) -> Any:
    """/ready once it names another primary and an activation (`WAIT 1`: a replica left) is answered."""
    ready = _ready(port)
    if ready is None or old in ready["redisPrimary"].values():
        return None
    activate = httpx.post(f"http://127.0.0.1:{port}/api/livescore/package/activate", json=BODY, timeout=5)
    return ready if activate.status_code == 200 else None


def _eventually(check: Callable[[], Any], timeout_s: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (found := check()) is not None:
                return found
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s} s:\n{log.read_text()[-5000:]}")
