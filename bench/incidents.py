"""Incident fan-out: incidents appended to `livescore:incidents` reach the incidents queues of 50 subscribed
packages, with 1 and then 2 worker processes.

Two figures per worker count. **Latency**: 200 incidents/s (10,000 queue messages/s) appended one by one
for a few seconds; each queue message's latency is its queue entry's id minus its incident's upstream
entry id (both Redis's clock, in ms). **Rate**: a backlog appended at once (one MULTI/EXEC) and drained;
queue messages per second from the backlog's first entry to the last queue message, beside raw pipelined
XADD of the same messages from Python (bench.raw_xadd) in the same run.
"""

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bench import cpu, raw_xadd
from bench.raw_xadd import Publication
from bench.services import Backing, logs
from bench.workers import workers
from cli.demo_fixtures import generate
from domain.commands import StreamId
from domain.fixture_store import store_fixtures
from domain.fixtures import FixtureStatus, Ref
from domain.incidents import PARTITIONS, Incident, Value, encode_incident
from domain.messages import MESSAGE_FIELD, MessageType, envelope, incident_message
from domain.packages import add_package
from domain.storage import open_engine
from domain.streams import (
    INCIDENT_OFFSETS,
    INCIDENT_WORKERS,
    INCIDENTS_STREAM,
    incident_lease,
    incidents_delivered,
    incidents_parked,
    incidents_parked_fixtures,
    incidents_queue,
)
from migrations import schema

# Packages subscribed to everything, each incident copied to every one's queue; LIVESCORE_BENCH_PACKAGES
# runs the same benchmarks (bench.amqp_delivery included, its fast clients alike) for more customers.
PACKAGES = int(os.environ.get("LIVESCORE_BENCH_PACKAGES", "50"))
FIXTURES = 200
FIRST_PACKAGE_ID = 6001
WORKER_COUNTS = (1, 2)
# The pace: 200 incidents a second, 10,000 queue messages a second to 50 packages.
RATE = 200
LATENCY_SECONDS, QUICK_LATENCY_SECONDS = 10, 4
# Incidents of the backlog: 300,000 queue messages (100,000 quick), far under each queue's limit.
BACKLOG, QUICK_BACKLOG = 6000, 2000
# The aims: p99 within 50 ms at 200/s; at least half of raw XADD's rate; 2 workers above 1.
P99_TARGET_MS = 50.0
RATE_TARGET = 0.5
# A delivery that has not ended after this long is reported as a failure, not waited for.
DELIVERY_TIMEOUT_S = 120
POLL_S = 0.02
SEED = 13


@dataclass(frozen=True, slots=True)
class IncidentFanOut:
    workers: int
    # At RATE incidents/s: latency of every queue message, in ms (Redis clock).
    p50_ms: float
    p99_ms: float
    max_ms: float
    latency_messages: int
    latency_cpu: dict[str, float]
    # The backlog drained, and raw pipelined XADD of the same messages.
    drain: Publication
    raw: Publication

    @property
    def ratio(self) -> float:
        return self.drain.rate / self.raw.rate if self.raw.rate else 0.0


def run_incidents(
    stores: Backing, quick: bool = False, counts: tuple[int, ...] = WORKER_COUNTS
) -> list[IncidentFanOut]:
    database = f"sqlite+aiosqlite:///{stores.workdir / 'incidents.db'}"
    schema.upgrade(database)
    fixture_ids = asyncio.run(_seed(database, stores.password))
    seconds = QUICK_LATENCY_SECONDS if quick else LATENCY_SECONDS
    backlog = QUICK_BACKLOG if quick else BACKLOG
    return [_measure(stores, database, fixture_ids, count, seconds, backlog) for count in counts]


async def _seed(database: str, password: str) -> list[int]:
    """FIXTURES in progress and PACKAGES active packages subscribed to everything (one Argon2 hash)."""
    fixtures = [
        msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS) for f in generate(FIXTURES, SEED)
    ]
    engine = open_engine(database)
    try:
        async with engine.begin() as conn:
            await store_fixtures(conn, fixtures)
            for i in range(PACKAGES):
                await add_package(
                    conn, FIRST_PACKAGE_ID + i, f"incidents-{i}@example.com", password, active=True
                )
    finally:
        await engine.dispose()
    return [f.fixture_id for f in fixtures]


def _incidents(fixture_ids: list[int], count: int, first_id: int) -> Iterator[bytes]:
    """Upstream messages of realistic size: scores and statistics of the fixtures in turn."""
    for n in range(count):
        fixture_id = fixture_ids[n % len(fixture_ids)]
        incident = Incident(
            id=first_id + n,
            fixture_id=fixture_id,
            kind="Score" if n % 3 == 0 else "Statistic",
            confidence=1.0,
            name="Score" if n % 3 == 0 else "Corners",
            values=[Value(1, n % 4), Value(2, n % 3)],
            period=Ref(1 + n % 2, "1st Half" if n % 2 == 0 else "2nd Half"),
            seconds=n % 5400,
            initiator_position=1 + n % 2,
        )
        yield envelope(MessageType.INCIDENT, encode_incident(incident)).body


def _measure(
    stores: Backing, database: str, fixture_ids: list[int], count: int, seconds: int, backlog: int
) -> IncidentFanOut:
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        _reset(client)
        with workers(stores, count, DATABASE_URL=database) as procs:
            pids = {f"worker-{i}": p.pid for i, p in enumerate(procs)} | stores.redis_pids()
            _wait_spread(client, count)
            _deliver(client, list(_incidents(fixture_ids, 100, 1)), procs, stores)  # warm-up
            _clear_queues(client)
            before, started = cpu.snapshot(pids), time.perf_counter()
            sent = asyncio.run(_paced(stores.redis_url, list(_incidents(fixture_ids, RATE * seconds, 10**6))))
            _wait_delivered(client, len(sent) * PACKAGES, procs, stores)
            busy = _by_role(cpu.busy(before, cpu.snapshot(pids), time.perf_counter() - started))
            latencies = _latencies(client, sent)
            _clear_queues(client)
            messages = list(_incidents(fixture_ids, backlog, 10**7))
            drain = _drain(client, messages, pids, procs, stores)
            _clear_queues(client)
        raw = asyncio.run(
            raw_xadd.publish(
                stores.redis_url, _queue_messages(messages), raw_xadd.pipelined, stores.redis_pids()
            )
        )
    finally:
        _reset(client)
        client.close()
    p50, p99 = statistics.quantiles(latencies, n=100)[49], statistics.quantiles(latencies, n=100)[98]
    return IncidentFanOut(count, p50, p99, max(latencies), len(latencies), busy, drain, raw)


def _reset(client: Redis) -> None:
    """No incidents, offsets, leases or queues left from an earlier measurement."""
    keys = [INCIDENTS_STREAM, INCIDENT_OFFSETS, INCIDENT_WORKERS]
    keys += [incident_lease(p) for p in range(PARTITIONS)] + [
        key(p)
        for p in range(PARTITIONS)
        for key in (incidents_delivered, incidents_parked, incidents_parked_fixtures)
    ]
    client.delete(*keys)
    _clear_queues(client)


def _clear_queues(client: Redis) -> None:
    client.delete(*(incidents_queue(FIRST_PACKAGE_ID + i) for i in range(PACKAGES)))


def _wait_spread(client: Redis, count: int) -> None:
    """Every worker owns partitions, and all of them are owned, before any figure is taken."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        owners: Any = client.mget([incident_lease(p) for p in range(PARTITIONS)])
        if None not in owners and len(set(owners)) == count:
            return
        time.sleep(POLL_S)
    raise RuntimeError("the workers did not share the incident partitions out")


def _deliver(client: Redis, messages: list[bytes], procs: list[Any], stores: Backing) -> None:
    pipe = client.pipeline(transaction=True)
    for message in messages:
        pipe.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
    pipe.execute()
    _wait_delivered(client, len(messages) * PACKAGES, procs, stores)


def _queued(client: Redis) -> int:
    pipe = client.pipeline(transaction=False)
    for i in range(PACKAGES):
        pipe.xlen(incidents_queue(FIRST_PACKAGE_ID + i))
    return sum(pipe.execute())


def _wait_delivered(client: Redis, total: int, procs: list[Any], stores: Backing) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while _queued(client) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{_queued(client):,} of {total:,} queue messages after {DELIVERY_TIMEOUT_S} s"
            )
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited during the incidents run\n{logs(stores.workdir)}")
        time.sleep(POLL_S)


async def _paced(redis_url: str, messages: list[bytes]) -> dict[int, int]:
    """Append the messages one by one at RATE a second; the upstream entry's ms of each incident id."""
    client: AsyncRedis = AsyncRedis.from_url(redis_url)
    sent: dict[int, int] = {}
    try:
        await client.ping()
        started = time.perf_counter()
        for n, message in enumerate(messages):
            await asyncio.sleep(max(0.0, started + n / RATE - time.perf_counter()))
            entry_id = await client.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
            sent[msgspec.json.decode(message)["body"]["id"]] = StreamId.parse(entry_id).ms
    finally:
        await client.aclose()
    return sent


def _latencies(client: Redis, sent: dict[int, int]) -> list[float]:
    latencies = []
    for i in range(PACKAGES):
        entries: Any = client.xrange(incidents_queue(FIRST_PACKAGE_ID + i))
        for entry_id, fields in entries:
            incident_id = msgspec.json.decode(fields[MESSAGE_FIELD.encode()])["body"]["id"]
            latencies.append(float(StreamId.parse(entry_id).ms - sent[incident_id]))
    return latencies


def _drain(
    client: Redis, messages: list[bytes], pids: dict[str, int], procs: list[Any], stores: Backing
) -> Publication:
    """The backlog appended at once; queue messages per second until the last one is in its queue."""
    before, started = cpu.snapshot(pids), time.perf_counter()
    pipe = client.pipeline(transaction=True)
    for message in messages:
        pipe.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
    first = StreamId.parse(pipe.execute()[0])
    _wait_delivered(client, len(messages) * PACKAGES, procs, stores)
    busy = _by_role(cpu.busy(before, cpu.snapshot(pids), time.perf_counter() - started))
    return Publication(len(messages) * PACKAGES, _last_queued(client).ms - first.ms, busy)


def _last_queued(client: Redis) -> StreamId:
    """The id of the newest queue message of any package."""
    pipe = client.pipeline(transaction=False)
    for i in range(PACKAGES):
        pipe.xrevrange(incidents_queue(FIRST_PACKAGE_ID + i), count=1)
    newest: list[Any] = pipe.execute()
    return max(StreamId.parse(entries[0][0]) for entries in newest)


def _queue_messages(messages: list[bytes]) -> list[bytes]:
    """What the backlog becomes in the queues (the envelope with the fixture named), once per package."""
    out = []
    for message in messages:
        body = msgspec.json.decode(message)["body"]
        encoded = msgspec.json.encode(body)
        queued = incident_message(encoded, body["fixtureId"], 6046, 1001).body
        out += [queued] * PACKAGES
    return out


def _by_role(busy: dict[str, float]) -> dict[str, float]:
    workers_busy = sum(v for k, v in busy.items() if k.startswith("worker-"))
    return {"workers": workers_busy} | {k: v for k, v in busy.items() if not k.startswith("worker-")}
