"""Snapshot fan-out: a fresh worker publishes N upcoming fixtures to a package's queue, beside raw XADD of
the same messages from Python (bench.raw_xadd) — how fast the bytes alone get into Redis."""

import asyncio
import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from redis import Redis

from bench import cpu, memory, raw_xadd
from bench.raw_xadd import Publication
from bench.services import USERNAME, Backing, logs
from bench.workers import fields_of, workers
from cli.demo_fixtures import generate
from domain.commands import StreamId, TriggerSnapshot
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, FixtureStatus, encode_fixture
from domain.messages import MESSAGE_FIELD, MessageType, envelopes
from domain.packages import add_package
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, fixtures_queue

SIZES = (10_000, 100_000)
# Fixed, so every run publishes the same fixtures (within the hour: demo fixtures follow the clock).
SEED = 7
# Rows per INSERT while seeding storage; bounds the seeding's memory, not part of any figure.
STORE_CHUNK = 5000
# Nobody reads the queue during the run: under the default limit (50,000) the 100,000-fixture snapshot
# would be cut short and the package deactivated.
QUEUE_LIMIT = 1_000_000
# Far above any healthy snapshot here (100,000 fixtures even at 5,000/s take 20 s); bounds a stuck one.
SNAPSHOT_TIMEOUT_S = 120
# How often the queue is checked for the completion message: cheap for Redis, small against the figures.
POLL_S = 0.02
# One package per size, active, subscribed to everything, created next to the fixtures.
FIRST_PACKAGE_ID = 3001
# The aims: fan-out at least this share of raw XADD, and memory that does not follow the size.
RATE_TARGET = 0.6
RSS_GROWTH_LIMIT_MIB = 64


@dataclass(frozen=True, slots=True)
class FanOut:
    fixtures: int
    snapshot: Publication
    # The baselines (bench.raw_xadd): the same number of messages, plain XADD pipelined, and XADD scripted.
    raw: Publication
    scripted: Publication
    # From the trigger's entry in the commands stream to the first fixture in the queue (Redis clock).
    first_message_ms: int
    # The worker's resident memory at rest before the trigger, and its peak during the snapshot above it.
    rss_before_mib: float
    rss_growth_mib: float

    @property
    def ratio(self) -> float:
        return self.snapshot.rate / self.raw.rate if self.raw.rate else 0.0

    @property
    def scripted_ratio(self) -> float:
        return self.snapshot.rate / self.scripted.rate if self.scripted.rate else 0.0


def run_fanout(stores: Backing, sizes: tuple[int, ...] = SIZES) -> list[FanOut]:
    """Each size in turn (ascending), storage growing to it, then one snapshot and its baseline."""
    fixtures = upcoming(max(sizes))
    results, stored = [], 0
    for index, size in enumerate(sorted(sizes)):
        package_id = FIRST_PACKAGE_ID + index
        asyncio.run(_seed(stores, fixtures[stored:size], package_id))
        stored = size
        snapshot, first_ms, rss_before, growth = _snapshot(stores, package_id, size)
        raw, scripted = _baselines(stores, [encode_fixture(f) for f in fixtures[:size]])
        results.append(FanOut(size, snapshot, raw, scripted, first_ms, rss_before, growth))
    return results


def _baselines(stores: Backing, bodies: list[bytes]) -> tuple[Publication, Publication]:
    """Messages of the same sizes as the snapshot's (same envelope, same bodies), pipelined then scripted."""
    messages = [m.body for m in envelopes(MessageType.FIXTURE, bodies, str(uuid.uuid4()))]
    pids = stores.redis_pids()
    return (
        asyncio.run(raw_xadd.publish(stores.redis_url, messages, raw_xadd.pipelined, pids)),
        asyncio.run(raw_xadd.publish(stores.redis_url, messages, raw_xadd.scripted, pids)),
    )


def upcoming(count: int) -> list[Fixture]:
    """Realistic demo fixtures, every one made upcoming (not started) so a snapshot publishes them all."""
    return [msgspec.structs.replace(f, status=FixtureStatus.NOT_STARTED) for f in generate(count, SEED)]


async def _seed(stores: Backing, fixtures: list[Fixture], package_id: int) -> None:
    engine = open_engine(stores.database_url)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(fixtures), STORE_CHUNK):
                await store_fixtures(conn, fixtures[start : start + STORE_CHUNK])
            await add_package(conn, package_id, USERNAME, stores.password, active=True)
    finally:
        await engine.dispose()


def _snapshot(stores: Backing, package_id: int, size: int) -> tuple[Publication, int, float, float]:
    """One snapshot by a fresh worker: (publication, ms to first message, RSS at rest, peak growth)."""
    client: Redis = Redis.from_url(stores.redis_url)
    queue = fixtures_queue(package_id)
    try:
        with workers(stores, 1, LIVESCORE_QUEUE_LIMIT=str(QUEUE_LIMIT)) as (worker,):
            pids = {"publisher": worker.pid, **stores.redis_pids()}
            rss_before, before = memory.resident_mib(worker.pid), cpu.snapshot(pids)
            started = time.perf_counter()
            trigger = client.xadd(COMMANDS_STREAM, fields_of(TriggerSnapshot(package_id=package_id)))
            last = _wait_completion(client, queue, worker, stores)
            busy = cpu.busy(before, cpu.snapshot(pids), time.perf_counter() - started)
            growth = memory.peak_mib(worker.pid) - rss_before
        first = _check(client, queue, size, last)
        publication = Publication(size, last.ms - first.ms, busy)
        return publication, first.ms - StreamId.parse(trigger).ms, rss_before, growth
    finally:
        client.delete(queue)
        client.close()


def _wait_completion(client: Redis, queue: str, worker: subprocess.Popen[bytes], stores: Backing) -> StreamId:
    """The completion message's entry id, once the queue ends with it."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    while time.monotonic() < deadline:
        entries: Any = client.xrevrange(queue, count=1)
        if entries and _message_type(entries[0][1]) == MessageType.SNAPSHOT_COMPLETE:
            return StreamId.parse(entries[0][0])
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited during the snapshot\n{logs(stores.workdir)}")
        time.sleep(POLL_S)
    raise RuntimeError(f"no completion message within {SNAPSHOT_TIMEOUT_S} s\n{logs(stores.workdir)}")


def _check(client: Redis, queue: str, size: int, last: StreamId) -> StreamId:
    """The first fixture's entry id, once the queue is known to hold exactly the snapshot."""
    length: Any = client.xlen(queue)
    completion: Any = client.xrange(queue, min=str(last), max=str(last))
    count = json.loads(completion[0][1][MESSAGE_FIELD.encode()])["body"]["fixtureCount"]
    if length != size + 1 or count != size:
        raise RuntimeError(f"snapshot of {size} fixtures: {length} queue entries, fixtureCount {count}")
    first: Any = client.xrange(queue, count=1)
    return StreamId.parse(first[0][0])


def _message_type(fields: dict[bytes, bytes]) -> int:
    return int(json.loads(fields[MESSAGE_FIELD.encode()])["header"]["MessageType"])
