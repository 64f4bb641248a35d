"""A private RabbitMQ node on this machine: for `livescore dev --amqp`, the benchmarks and the tests.

It runs Debian's `rabbitmq-server` with its own HOME (Erlang cookie), node name, ports, data and logs
under one directory, so the machine's own broker is never touched (NOTES). Its rabbitmq.conf is what
`livescore amqp config` writes, with this node's listeners appended below the operator's marker, as the
README tells an operator to; once it is up, `livescore amqp setup` creates the vhosts and the service's
account. Ready when its log says so (~5 s); SIGTERM stops it.

Everything it opens listens on 127.0.0.1 alone: AMQP, the management API, Erlang's distribution port and
an epmd it starts. Its Erlang cookie (whoever holds it runs code as the node's user) and the service
account's password, made per directory, are files only their owner may read.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar

from cli.amqp import write_config
from cli.broker_setup import setup
from domain.settings import Settings
from servers.private_files import write_private

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# What RabbitMQ logs once every plugin has started and its listeners are open.
READY_LINE = "Server startup complete"
# A node starts in ~5 s here; allow for a loaded machine.
STARTUP_TIMEOUT_S = 60
# Stopping flushes queues to disk: a few seconds.
STOP_TIMEOUT_S = 30
# The service's account on the node (guest, RabbitMQ's own, stays the administrator, and may log in from
# this machine alone: RabbitMQ's loopback_users). Its password is made per node directory.
SERVICE_USER = "livescore-service"
SERVICE_PASSWORD_FILE = "service-password"  # noqa: S105 - the name of the file that holds it
# Every listener of a private node: nobody else on the network has any business with it.
LOOPBACK = "127.0.0.1"
# The ports a node directory used last (AMQP, management, distribution, and any its caller names): taken
# again when free, so that a customer's client keeps its URL across restarts of `dev`.
PORTS_FILE = "ports.json"


class NodeStartFailed(RuntimeError):
    """A node that exited or did not get ready: `reason`, one line of its own output to show a user, and
    the log it wrote (the exception's text carries the logs' tails, for a test's report)."""

    def __init__(self, reason: str, log_path: Path, details: str) -> None:
        super().__init__(f"{reason}\n{details}")
        self.reason, self.log_path = reason, log_path


INSTALL_HINT = "apt-get install rabbitmq-server"


def installed() -> bool:
    return RABBITMQ_SERVER.exists()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RabbitMQNode:
    base: Path
    amqp_port: int
    management_port: int
    broker_auth_port: int
    popen: "subprocess.Popen[bytes]"
    env: dict[str, str]
    startup_s: float = 0.0
    # READY_LINEs its log held before this start (a node started again under the same directory).
    earlier_starts: int = 0
    # The service account's password (SERVICE_PASSWORD_FILE of its directory, or of its cluster's).
    service_password: str = ""

    @property
    def name(self) -> str:
        return self.env["RABBITMQ_NODENAME"]

    @property
    def amqp_url(self) -> str:
        """The service's own account, on the plain listener (SPEC §9: a private network)."""
        return f"amqp://{SERVICE_USER}:{self.service_password}@127.0.0.1:{self.amqp_port}/"

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
        """`settings` pointed at this node, and at the broker-auth process it asks about customers."""
        return replace(
            settings,
            amqp_url=self.amqp_url,
            amqp_management_url=self.management_url,
            broker_auth_host="127.0.0.1",
            broker_auth_port=self.broker_auth_port,
            broker_auth_url=self.broker_auth_url,
        )

    def log(self) -> str:
        return _logs(self.base)

    def restart(self) -> None:
        """Stopped and started again, as a broker restarts: same node, ports and data (durable queues and
        persistent messages survive); returns once it is ready again."""
        starts = self.log().count(READY_LINE)
        self.stop()
        self.popen = _spawn(self.base, self.env)
        wait_until_ready(self, starts + 1)

    def kill(self) -> None:
        """SIGKILL to the node's whole process group, as a machine's loss ends it: nothing is flushed."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        """SIGTERM to the start script, which stops the Erlang VM; killed if it has not within the time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def start_node(
    base: Path, settings: Settings, listeners: str = "", node_name: str | None = None
) -> RabbitMQNode:
    """A node of its own under `base`, configured for `settings` (its broker-auth URL, cache time) by
    `livescore amqp config`, plus `listeners` (more of the operator's lines), then set up. A node started
    again under the same `base` and `node_name` keeps its queues and messages."""
    started = time.monotonic()
    node_name = node_name or f"livescore-{uuid.uuid4().hex[:8]}@localhost"
    base = base.resolve()
    password = service_password(base)
    node = launch_node(base, settings, listeners, node_name, free_port(), password=password)
    return set_up(node, settings, started, lambda: wait_until_ready(node))


class Broker(Protocol):
    """A started node or cluster, as `set_up` finishes it."""

    startup_s: float

    def settings(self, settings: Settings) -> Settings: ...

    def stop(self) -> None: ...


B = TypeVar("B", bound=Broker)


def set_up(broker: B, settings: Settings, started: float, ready: Callable[[], None]) -> B:
    """`broker` once `ready` returns, set up for `settings` (vhosts, users, exchanges) and its start-up
    time noted; stopped if either fails, so that nothing is left running."""
    try:
        ready()
        setup(broker.settings(settings))
    except BaseException:
        broker.stop()
        raise
    broker.startup_s = time.monotonic() - started
    return broker


def launch_node(
    base: Path,
    settings: Settings,
    listeners: str,
    node_name: str,
    auth_port: int,
    cookie: str = "",
    password: str = "",
) -> RabbitMQNode:
    """A node's directories, configuration and environment, and its process started (not ready yet):
    `start_node`'s first step, and each node's of a cluster (servers/rabbitmq_cluster.py). `cookie`: the
    Erlang cookie the node shares with its cluster (else Erlang makes one of its own, which only its owner
    may read); `password`: the service account's."""
    amqp_port, dist_port, management_port = (remembered_port(base, n) for n in ("amqp", "dist", "management"))
    configured = replace(settings, broker_auth_url=f"http://127.0.0.1:{auth_port}")
    # This node's own file, written anew: its listeners (below the marker) are this run's ports.
    (base / "config" / "rabbitmq.conf").unlink(missing_ok=True)
    write_config(base / "config", configured)
    with (base / "config" / "rabbitmq.conf").open("a") as conf:
        conf.write(
            f"listeners.tcp.1 = {LOOPBACK}:{amqp_port}\n"
            f"management.tcp.ip = {LOOPBACK}\nmanagement.tcp.port = {management_port}\n"
        )
        conf.write(listeners)
    env = _environment(base, node_name, amqp_port, dist_port)
    if cookie:
        _write_cookie(base / "home" / ".erlang.cookie", cookie)
    earlier = _logs(base).count(READY_LINE)
    popen = _spawn(base, env)
    return RabbitMQNode(base, amqp_port, management_port, auth_port, popen, env, 0.0, earlier, password)


def remembered_port(base: Path, name: str) -> int:
    """The port `name` of the node directory `base` used last if it is free now, else a new free one,
    remembered for next time."""
    path = base / PORTS_FILE
    try:
        ports = json.loads(path.read_text())
    except (OSError, ValueError):
        ports = {}
    port = ports.get(name)
    if not isinstance(port, int) or not _free(port):
        port = free_port()
        base.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**ports, name: port}))
    return port


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _spawn(base: Path, env: dict[str, str]) -> "subprocess.Popen[bytes]":
    with (base / "stdout.log").open("ab") as out:
        # A session of its own: Ctrl-C in a terminal does not reach it, and a stray VM can be killed with
        # its whole group. Run from its directory, so that whatever Erlang writes where it runs stays there.
        return subprocess.Popen(  # noqa: S603 - Debian's server, at its fixed path
            [str(RABBITMQ_SERVER)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=base,
        )


def _environment(base: Path, node_name: str, amqp_port: int, dist_port: int) -> dict[str, str]:
    for name in ("home", "mnesia", "log", "plugins"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "LIVESCORE_"))}
    env.update(
        HOME=str(base / "home"),  # its own Erlang cookie
        RABBITMQ_NODENAME=node_name,
        RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
        RABBITMQ_NODE_PORT=str(amqp_port),
        RABBITMQ_DIST_PORT=str(dist_port),
        # Erlang's distribution port, and an epmd the node starts (one already running is not ours).
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        ERL_EPMD_ADDRESS=LOOPBACK,
        RABBITMQ_CONFIG_FILE=str(base / "config" / "rabbitmq"),  # without `.conf`
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "config" / "enabled_plugins"),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_PLUGINS_EXPAND_DIR=str(base / "plugins"),
        # A VM that fails to start writes a dump of some 700 KB: here, not in the folder `dev` runs in.
        ERL_CRASH_DUMP=str(base / "log" / "erl_crash.dump"),
    )
    return env


def _logs(base: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted((base / "log").glob("*.log")))


def wait_until_ready(node: RabbitMQNode, starts: int | None = None) -> None:
    """Returns once the node's log holds `starts` READY_LINEs (by default, one more than before this
    start); raises NodeStartFailed if it exits first or takes longer than STARTUP_TIMEOUT_S."""
    starts = node.earlier_starts + 1 if starts is None else starts
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if node.popen.poll() is not None:
            raise _failed(node, "exited during start-up")
        if node.log().count(READY_LINE) >= starts:
            return
        time.sleep(0.1)
    raise _failed(node, f"not ready within {STARTUP_TIMEOUT_S} s")


# What RabbitMQ's start-up says when it fails, best first: its own sentence ("ERROR: node with name … is
# already running on host …"), else the Erlang VM's last words ("Kernel pid terminated (…)").
_REASONS = (re.compile(r"\bERROR: .*"), re.compile(r"^Kernel pid terminated .*"))
# A reason is one line of a terminal, not an Erlang term of a page.
_REASON_CHARS = 200


def _failed(node: RabbitMQNode, what: str) -> NodeStartFailed:
    output = (node.base / "stdout.log").read_text(errors="replace")
    reason = next((found for pattern in _REASONS if (found := _first(pattern, output))), "")
    said = f"RabbitMQ node {node.name} {what}" + (f": {reason[:_REASON_CHARS]}" if reason else "")
    return NodeStartFailed(said, node.base / "stdout.log", output[-4000:] + node.log()[-4000:])


def _first(pattern: re.Pattern[str], output: str) -> str:
    found = next((m for line in output.splitlines() if (m := pattern.search(line))), None)
    return " ".join(found[0].split()) if found else ""


def _write_cookie(path: Path, cookie: str) -> None:
    # Erlang refuses a cookie file that others may read, and cannot overwrite its own read-only one.
    write_private(path, cookie, 0o400)


def service_password(base: Path) -> str:
    """The service account's password for the node or cluster under `base`: made at random once, kept in
    a file of the owner's alone, so that a restarted node keeps it (and so does the noted URL)."""
    path = base / SERVICE_PASSWORD_FILE
    if not path.exists():
        base.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(24), 0o600)
    return path.read_text().strip()
