"""A private RabbitMQ cluster on this machine (SPEC §11): for `livescore dev --cluster`, the cluster
benchmarks and the tests that lose a node. Three nodes of servers/rabbitmq_node.py, each with its own
directory (node1, node2, …), ports and data, that find each other from their configuration (classic peer
discovery) and share one Erlang cookie, one service password and one broker-auth process; the service's
settings list every node and use quorum queues.

A cluster is built out of nodes: this module imports servers/rabbitmq_node.py, never the other way round,
and starts each node in that module's two steps (launch_node, then wait_until_ready), so that the nodes
after the first start together. Its Erlang cookie, like a node's, is a file only its owner may read.
"""

import secrets
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from domain.settings import Settings
from servers.private_files import write_private
from servers.rabbitmq_node import (
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    RabbitMQNode,
    free_port,
    launch_node,
    service_password,
    set_up,
    wait_until_ready,
)

# Three nodes: the fewest that keep a majority (two) of every quorum queue when one is lost.
CLUSTER_SIZE = 3
# How often the management API is asked whether every node has joined.
CLUSTER_POLL_S = 0.25


@dataclass
class RabbitMQCluster:
    """Private nodes on this machine formed into one cluster from their configuration (classic peer
    discovery), sharing one Erlang cookie and one broker-auth process, each with its own ports and data.
    The service's settings list every node (SPEC §11)."""

    nodes: list[RabbitMQNode]
    broker_auth_port: int
    startup_s: float = 0.0

    @property
    def amqp_url(self) -> str:
        return ",".join(node.amqp_url for node in self.nodes)

    @property
    def management_url(self) -> str:
        return ",".join(node.management_url for node in self.nodes)

    @property
    def broker_auth_url(self) -> str:
        return f"http://127.0.0.1:{self.broker_auth_port}"

    def settings(self, settings: Settings) -> Settings:
        """`settings` pointed at every node, with quorum queues, and at the one broker-auth process."""
        return replace(
            self.nodes[0].settings(settings),
            amqp_url=self.amqp_url,
            amqp_management_url=self.management_url,
            amqp_queue_type="quorum",
        )

    def node(self, name: str) -> RabbitMQNode:
        return next(node for node in self.nodes if node.name == name)

    def restart(self, node: RabbitMQNode) -> None:
        """A killed or stopped node started again with its data; returns once it has rejoined."""
        node.restart()
        self.wait_clustered()

    def running(self) -> set[str]:
        """The nodes the cluster reports running, asked of the first node that answers."""
        for node in self.nodes:
            if node.popen.poll() is not None:
                continue
            try:
                answer = httpx.get(f"{node.management_url}/api/nodes", timeout=STOP_TIMEOUT_S)
            except httpx.HTTPError:
                continue
            if answer.is_success:
                return {str(n["name"]) for n in answer.json() if n.get("running")}
        return set()

    def wait_clustered(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        names = {node.name for node in self.nodes}
        while self.running() != names:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"RabbitMQ cluster not formed within {STARTUP_TIMEOUT_S} s: {self.running()}"
                )
            time.sleep(CLUSTER_POLL_S)

    def stop(self) -> None:
        """Every node told to stop at once (one by one, each would wait for the others' timeouts)."""
        for node in self.nodes:
            if node.popen.poll() is None:
                node.popen.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()


def start_cluster(
    base: Path,
    settings: Settings,
    listeners: str = "",
    name: str | None = None,
    size: int = CLUSTER_SIZE,
    node_listeners: Callable[[Path], str] | None = None,
) -> RabbitMQCluster:
    """`size` nodes under `base` (node1, node2, …), each configured like `start_node`'s plus the cluster
    formation lines, then set up once (vhosts and users are the cluster's). The first node starts alone;
    the others then join it together. Started again under the same `base` and `name`, it keeps its
    queues and messages. `node_listeners`: more lines for the node of a directory (its own ports)."""
    started = time.monotonic()
    base, name = base.resolve(), name or f"livescore-{uuid.uuid4().hex[:6]}"
    names = [f"{name}-{index}@localhost" for index in range(1, size + 1)]
    formation = _formation(names)
    cookie, password = _cookie(base), service_password(base)
    auth_port = free_port()

    def start(index: int) -> RabbitMQNode:
        node_base = base / f"node{index + 1}"
        lines = formation + listeners + (node_listeners(node_base) if node_listeners else "")
        return launch_node(node_base, settings, lines, names[index], auth_port, cookie, password)

    # A new cluster forms around its first node; a cluster with data starts all at once, since each
    # node waits at boot for the peers it last saw running (the last one stopped need not be the first).
    together = (base / "node1" / "mnesia").exists()
    cluster = RabbitMQCluster([start(0)], auth_port)
    return set_up(cluster, settings, started, lambda: _join_the_rest(cluster, start, size, together))


def _join_the_rest(
    cluster: RabbitMQCluster, start: Callable[[int], RabbitMQNode], size: int, together: bool
) -> None:
    """The nodes after the first started (once the first is ready, unless they start `together`), then
    every node ready and clustered."""
    if not together:
        wait_until_ready(cluster.nodes[0])
    cluster.nodes += [start(index) for index in range(1, size)]
    for node in cluster.nodes:
        wait_until_ready(node)
    cluster.wait_clustered()


def _formation(names: list[str]) -> str:
    """Peer discovery from the configuration: every node lists every node, itself included."""
    lines = ["cluster_formation.peer_discovery_backend = classic_config"]
    lines += [f"cluster_formation.classic_config.nodes.{i} = {n}" for i, n in enumerate(names, start=1)]
    return "\n".join(lines) + "\n"


def _cookie(base: Path) -> str:
    """The cluster's Erlang cookie: made once, kept under `base` so a restarted cluster keeps it; only its
    owner may read it (with it, anyone reaching a node runs commands as the node's user)."""
    path = base / "erlang.cookie"
    if not path.exists():
        base.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_hex(20).upper(), 0o400)
    path.chmod(0o400)  # a cookie made before this rule
    return path.read_text().strip()
