"""A throwaway RabbitMQ node for the test session, started as NOTES describe.

Its own HOME (Erlang cookie), node name, ports (AMQP, AMQPS, distribution, management) and data and log
directories, under one temporary directory: the machine's own broker on 5672 is never touched. Its
rabbitmq.conf is what `livescore amqp config` writes, with the test's listeners, management port and TLS
appended below the operator's marker, as the README tells an operator to; then `livescore amqp setup`
creates the vhosts and the service account. Ready when its log says so (~5 s); SIGTERM stops it.
"""

import os
import signal
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trustme
from typer.testing import CliRunner

from cli.main import app as livescore
from domain.settings import Settings
from tests.e2e.processes import free_port

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# What RabbitMQ logs once every plugin has started and its listeners are open.
READY_LINE = "Server startup complete"
# A node starts in ~5 s here; allow for a loaded machine.
STARTUP_TIMEOUT_S = 60
# Stopping flushes queues to disk: a few seconds.
STOP_TIMEOUT_S = 30
# RabbitMQ's answers on a login are trusted this long in the test node, so that a password change bites
# within a second or two. The shipped default (domain/settings.py) is checked by a test of its own.
AUTH_CACHE_MS = 1000
# The service's account, which `amqp setup` creates (guest, RabbitMQ's own, stays the administrator).
SERVICE_USER, SERVICE_PASSWORD = "livescore-service", "service-secret"


@dataclass
class RabbitMQNode:
    """A running node, the URLs to reach it, and the CA that signed its TLS certificate."""

    base: Path
    amqp_port: int
    amqps_port: int
    management_port: int
    broker_auth_port: int
    ca: trustme.CA
    popen: "subprocess.Popen[bytes]"
    node_name: str
    startup_s: float = 0.0

    @property
    def amqp_url(self) -> str:
        """The service's own account, on the plain listener (SPEC §9: a private network)."""
        return f"amqp://{SERVICE_USER}:{SERVICE_PASSWORD}@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    @property
    def broker_auth_url(self) -> str:
        return f"http://127.0.0.1:{self.broker_auth_port}"

    @property
    def config_dir(self) -> Path:
        return self.base / "config"

    def settings(self, settings: Settings) -> Settings:
        """`settings` pointed at this node and at the broker-auth app the tests run for it."""
        return replace(
            settings,
            amqp_url=self.amqp_url,
            amqp_management_url=self.management_url,
            broker_auth_host="127.0.0.1",
            broker_auth_port=self.broker_auth_port,
            broker_auth_url=self.broker_auth_url,
            amqp_auth_cache_ms=AUTH_CACHE_MS,
        )

    def client_tls(self) -> ssl.SSLContext:
        """What a customer's client needs to trust the node's certificate."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def log(self) -> str:
        logs = sorted((self.base / "log").glob("*.log"))
        return "\n".join(path.read_text(errors="replace") for path in logs)

    def stop(self) -> None:
        """SIGTERM to the start script, which stops the Erlang VM; killed if it has not within the time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def start_node(base: Path) -> RabbitMQNode:
    """A node of its own under `base`, configured by `livescore amqp config` and set up by
    `livescore amqp setup`."""
    started = time.monotonic()
    amqp_port, amqps_port, dist_port, management_port, auth_port = (free_port() for _ in range(5))
    node_name = f"livescore-test-{uuid.uuid4().hex[:8]}@localhost"
    ca = trustme.CA()
    settings = Settings(broker_auth_url=f"http://127.0.0.1:{auth_port}", amqp_auth_cache_ms=AUTH_CACHE_MS)
    config_dir = base / "config"
    _livescore(settings, "amqp", "config", str(config_dir))
    with (config_dir / "rabbitmq.conf").open("a") as conf:
        conf.write(_listeners(config_dir, ca, amqp_port, amqps_port, management_port))
    env = _environment(base, node_name, amqp_port, dist_port)
    with (base / "stdout.log").open("wb") as out:
        # A session of its own: a stray VM can be killed with its whole group.
        popen = subprocess.Popen(
            [str(RABBITMQ_SERVER)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    node = RabbitMQNode(base, amqp_port, amqps_port, management_port, auth_port, ca, popen, node_name)
    try:
        _wait_until_ready(node)
        _livescore(node.settings(settings), "amqp", "setup")
    except BaseException:
        node.stop()
        raise
    node.startup_s = time.monotonic() - started
    return node


def _listeners(
    config_dir: Path, ca: trustme.CA, amqp_port: int, amqps_port: int, management_port: int
) -> str:
    """The operator's part: plain AMQP for the service, AMQPS for customers (a certificate made for the
    test), the management port."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(config_dir / "ca.pem"))
    cert.private_key_pem.write_to_path(str(config_dir / "key.pem"))
    (config_dir / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return "\n".join(
        [
            f"listeners.tcp.default = {amqp_port}",
            f"listeners.ssl.default = {amqps_port}",
            f"ssl_options.cacertfile = {config_dir / 'ca.pem'}",
            f"ssl_options.certfile = {config_dir / 'cert.pem'}",
            f"ssl_options.keyfile = {config_dir / 'key.pem'}",
            "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false",
            f"management.tcp.port = {management_port}",
            "",
        ]
    )


def _environment(base: Path, node_name: str, amqp_port: int, dist_port: int) -> dict[str, str]:
    for name in ("home", "mnesia", "log", "plugins"):
        (base / name).mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "LIVESCORE_"))}
    env.update(
        HOME=str(base / "home"),  # its own Erlang cookie
        RABBITMQ_NODENAME=node_name,
        RABBITMQ_NODE_PORT=str(amqp_port),
        RABBITMQ_DIST_PORT=str(dist_port),
        RABBITMQ_CONFIG_FILE=str(base / "config" / "rabbitmq"),  # without `.conf`
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "config" / "enabled_plugins"),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_PLUGINS_EXPAND_DIR=str(base / "plugins"),
    )
    return env


def _wait_until_ready(node: RabbitMQNode) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if node.popen.poll() is not None:
            raise RuntimeError(f"RabbitMQ exited during start-up:\n{_output(node)}")
        if READY_LINE in node.log():
            return
        time.sleep(0.1)
    raise RuntimeError(f"RabbitMQ not ready within {STARTUP_TIMEOUT_S} s:\n{_output(node)}")


def _output(node: RabbitMQNode) -> str:
    return (node.base / "stdout.log").read_text(errors="replace")[-4000:] + node.log()[-4000:]


def _livescore(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(livescore, list(args), obj=settings)
    if result.exit_code != 0:
        raise RuntimeError(f"livescore {' '.join(args)} failed: {result.output}")
    return result
