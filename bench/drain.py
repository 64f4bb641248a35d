"""Worker drain throughput: how fast 1, 2 and 4 worker processes apply a backlog of activation commands,
on SQLite and on PostgreSQL, for two shapes of backlog: few packages switched back and forth many times
each (a few busy customers, or a replay), and many packages with a command or two each.

The workers start on an empty commands stream and are counted ready once each joined the group; then the
whole backlog is appended in one MULTI/EXEC, so it appears at once to workers already waiting. The clock
runs from EXEC's answer until the group has delivered the last entry and holds nothing pending.
"""

import asyncio
import subprocess
import time
from dataclasses import dataclass
from random import Random
from typing import Any

from redis import Redis
from sqlalchemy import insert, make_url, select
from sqlmodel import col

from bench import cpu, postgres
from bench.services import Backing, logs
from bench.workers import fields_of, workers
from domain.commands import ActivatePackage, DeactivatePackage, Outcome
from domain.models import Package, utcnow
from domain.package_status import PackageStatus
from domain.packages import new_credential_version
from domain.passwords import hash_password
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP
from migrations import schema

COMMANDS = 12_000
WORKER_COUNTS = (1, 2, 4)
# The aims for a second worker: on PostgreSQL, whose row locks let two workers write at once; on
# SQLite, whose writers take turns, no slower than one.
SCALING_TARGET = 1.3
SQLITE_SCALING_TARGET = 1.0


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    packages: int


SHAPES = (
    # Every batch of 100 touches most packages, ~190 commands each: the most contention two workers
    # can meet, each package's row wanted by both.
    Shape("few packages", 64),
    # Nearly every command a package of its own: batches write a hundred rows, and two workers' batches
    # rarely share one.
    Shape("many packages", 10_000),
)
# Clear of every other part's packages (incidents use 6001–6050): the workers leave the drain's statuses
# in the run's Redis, where another part's worker would read them as its own packages'.
FIRST_PACKAGE_ID = 100_001
# Fixed, so every run applies the same sequence.
SEED = 11
# Several times the slowest drain seen here; a drain that stalls (commands left pending until another
# worker reclaims them after LIVESCORE_CLAIM_IDLE_MS) is reported as such, not waited for forever.
DRAIN_TIMEOUT_S = 120
# How often the group is checked: a few ms of error on drains of seconds, nothing for Redis.
POLL_S = 0.01
# Where a PostgreSQL server's processes can be seen in /proc.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class Drain:
    database: str
    shape: str
    workers: int
    commands: int
    # Commands acknowledged when the clock stopped: all of them unless the drain timed out.
    applied: int
    seconds: float
    # Storage holds, for every package, the status its last command in stream order asked for.
    consistent: bool
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.applied / self.seconds if self.seconds > 0 else 0.0

    @property
    def drained(self) -> bool:
        return self.applied == self.commands


def run_drain(
    stores: Backing, commands: int = COMMANDS, counts: tuple[int, ...] = WORKER_COUNTS
) -> tuple[list[Drain], list[str]]:
    """Figures on SQLite, then on a scratch PostgreSQL database; notes say what was skipped and why."""
    sqlite = f"sqlite+aiosqlite:///{stores.workdir / 'drain.db'}"
    schema.upgrade(sqlite)
    results = _on(stores, "SQLite", sqlite, commands, counts)
    try:
        with postgres.scratch_database(postgres.server_url()) as url:
            results += _on(stores, "PostgreSQL", url, commands, counts)
    except postgres.Unavailable as exc:
        return results, [f"PostgreSQL drain skipped: {exc}"]
    return results, []


def _on(stores: Backing, database: str, url: str, commands: int, counts: tuple[int, ...]) -> list[Drain]:
    asyncio.run(_add_packages(url, stores.password, max(shape.packages for shape in SHAPES)))
    found = []
    for shape in SHAPES:
        backlog = _backlog(commands, shape.packages)
        found += [_measure(stores, database, shape, url, count, backlog) for count in counts]
    return found


def _backlog(commands: int, packages: int) -> list[ActivatePackage | DeactivatePackage]:
    rng = Random(SEED)
    kinds = (ActivatePackage, DeactivatePackage)
    return [rng.choice(kinds)(package_id=FIRST_PACKAGE_ID + rng.randrange(packages)) for _ in range(commands)]


def _measure(
    stores: Backing,
    database: str,
    shape: Shape,
    url: str,
    count: int,
    backlog: list[ActivatePackage | DeactivatePackage],
) -> Drain:
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        with workers(stores, count, DATABASE_URL=url) as procs:
            pids = {f"worker-{i}": p.pid for i, p in enumerate(procs)} | stores.redis_pids()
            names = ("postgres",) if _local_postgres(url) else ()
            last_id = _fill(client, backlog)
            before, started = cpu.snapshot(pids, names), time.perf_counter()
            applied = _wait_drained(client, last_id, len(backlog), procs, stores)
            seconds = time.perf_counter() - started
            busy = cpu.busy(before, cpu.snapshot(pids, names), seconds)
    finally:
        client.close()
    expected = {c.package_id: c.target for c in backlog}
    statuses = asyncio.run(_statuses(url))
    consistent = all(statuses.get(package_id) is status for package_id, status in expected.items())
    return Drain(database, shape.name, count, len(backlog), applied, seconds, consistent, _by_role(busy))


def _fill(client: Redis, backlog: list[ActivatePackage | DeactivatePackage]) -> bytes:
    """Append the backlog in one transaction, visible to the workers all at once when EXEC answers;
    returns the last entry's id."""
    pipe = client.pipeline(transaction=True)
    for command in backlog:
        pipe.xadd(COMMANDS_STREAM, fields_of(command))
    ids: list[bytes] = pipe.execute()
    return ids[-1]


def _wait_drained(
    client: Redis, last_id: bytes, total: int, procs: list[subprocess.Popen[bytes]], stores: Backing
) -> int:
    """Commands acknowledged once the group delivered `last_id` and holds nothing pending (or at the
    deadline)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        group = _group(client)
        delivered, pending = group["last-delivered-id"] == last_id, int(group["pending"])
        if delivered and pending == 0:
            return total
        if time.monotonic() > deadline:
            return (total if delivered else int(group.get("entries-read") or 0)) - pending
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited during the drain\n{logs(stores.workdir)}")
        time.sleep(POLL_S)


def _group(client: Redis) -> dict[str, Any]:
    groups: Any = client.xinfo_groups(COMMANDS_STREAM)
    for group in groups:
        if group["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()):
            return dict(group)
    raise RuntimeError(f"no group {WORKERS_GROUP} on {COMMANDS_STREAM}")


def _by_role(busy: dict[str, float]) -> dict[str, float]:
    """The worker processes summed; the rest (redis, postgres, machine) as they are."""
    workers_busy = sum(v for k, v in busy.items() if k.startswith("worker-"))
    return {"workers": workers_busy} | {k: v for k, v in busy.items() if not k.startswith("worker-")}


def _local_postgres(url: str) -> bool:
    """PostgreSQL on this machine, whose processes' CPU can be read (every database's, not only ours)."""
    return url.startswith("postgresql") and make_url(url).host in LOCAL_HOSTS


async def _add_packages(url: str, password: str, packages: int) -> None:
    """Inactive packages sharing one password hash: Argon2 once, not once per package."""
    hashed, now = hash_password(password), utcnow()
    rows = [
        {
            "id": FIRST_PACKAGE_ID + i,
            "username": f"drain-{i}@example.com",
            "password_hash": hashed,
            "credential_version": new_credential_version(),
            "status": PackageStatus.INACTIVE.value,
            "applied_ms": 0,
            "applied_seq": 0,
            "applied_outcome": Outcome.COMPLETED.value,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(packages)
    ]
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Package), rows)
    finally:
        await engine.dispose()


async def _statuses(url: str) -> dict[int, PackageStatus]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(col(Package.id), col(Package.status)).where(col(Package.id) >= FIRST_PACKAGE_ID)
            )
            return {package_id: PackageStatus(status) for package_id, status in rows}
    finally:
        await engine.dispose()
