"""`livescore dev`: the whole service on this machine with nothing installed but the package (SPEC §7)."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from redis.asyncio import Redis

from cli import dev_servers
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
            settings = Settings.from_env(env)
            env.update(
                dev_servers.start_sentinels(stack, settings) if cluster else dev_servers.start_valkey(stack)
            )
        banner: list[str] = []
        if cluster:
            env.update(dev_servers.start_rabbitmq_cluster(stack, Settings.from_env(env), banner))
        elif amqp:
            env.update(dev_servers.start_rabbitmq(stack, Settings.from_env(env), banner))
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
