"""A flood of incidents for unknown fixtures beside the live feed (`python -m bench.incident_flood`), issue
20 item 4.

One worker process, one active package subscribed to everything, a few fixtures in progress. Valid
incidents are appended one by one at RATE a second all along; a valid incident's latency is its queue
entry's id minus its upstream entry's id (both Redis's clock, in ms). After QUIET_S, BURST incidents of
fixtures that storage never gets are appended at once (one pipeline) with one marker incident right behind
them: the marker's latency is the time to read past the burst. Valid incidents are then grouped by when
they were appended: quiet (before the burst), during (burst appended → marker delivered), after (later).
The worker's resident memory is sampled all along: before the burst, its peak, and after every incident
of the burst was dead-lettered (WAIT_S, shortened for the run) and AFTER_S more of the live feed.
"""

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from bench.cpu import cpu_seconds
from bench.memory import resident_mib
from bench.services import Backing, backing, logs, process
from bench.workers import reset_commands
from domain.commands import StreamId
from domain.fixture_store import store_fixtures
from domain.fixtures import FixtureStatus
from domain.incidents import PARTITIONS
from domain.messages import MESSAGE_FIELD, MessageType, envelope
from domain.packages import add_package
from domain.storage import open_engine
from domain.streams import (
    INCIDENT_DEAD_LETTERS_STREAM,
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

# The pace of the live feed beside the flood, and its burst.
RATE = 20
BURST, QUICK_BURST = 50_000, 10_000
QUIET_S, AFTER_S = 10.0, 10.0
# Short, so that the run sees the whole burst dead-lettered; the default (60 s) changes only when.
WAIT_S = 10.0
# The issue's aims: valid incidents' p99 while the burst is read past, and the worker's memory growth.
P99_TARGET_MS = 2000.0
RSS_GROWTH_TARGET_MIB = 300.0
FIXTURES = 20
PACKAGE_ID = 7001
# Ids far from the valid ones: a fixture storage never holds, a different one per incident (the worst
# case: nothing about one tells the worker anything about the next).
UNKNOWN_FIXTURE_BASE = 50_000_000
# Appended in pipelines of this many entries, one after the other, as fast as Redis takes them.
PIPELINE_CHUNK = 5_000
# A phase that has not ended after this long is reported as a failure, not waited for.
PHASE_TIMEOUT_S = 600.0
SAMPLE_S = 0.2


@dataclass(frozen=True, slots=True)
class Figures:
    quiet: tuple[float, float]
    during: tuple[float, float]
    after: tuple[float, float]
    settled: tuple[float, float]
    read_past_s: float
    # The marker's own latency: how long after the burst's last entry the worker was past it.
    past_last_s: float
    # From the burst's first entry to its last dead letter.
    dead_s: float
    # How long the client took to append the burst, and the worker's CPU time from its start to the marker.
    append_s: float
    worker_cpu_s: float
    load: float
    rss_before: float
    rss_peak: float
    rss_after: float
    burst: int
    dead: int

    def lines(self) -> list[str]:
        def pair(p: tuple[float, float]) -> str:
            return f"p50 {p[0]:,.1f} ms, p99 {p[1]:,.1f} ms"

        growth = self.rss_peak - self.rss_before
        return [
            f"burst: {self.burst:,} unknown-fixture incidents at once; valid incidents at {RATE}/s",
            f"valid, quiet:  {pair(self.quiet)}",
            f"valid, during: {pair(self.during)}  (aim p99 <= {P99_TARGET_MS:,.0f} ms)",
            f"valid, after, while the burst is dead-lettered: {pair(self.after)}",
            f"valid, settled (after the last dead letter): {pair(self.settled)}",
            f"read past the burst: {self.read_past_s:.2f} s after its first entry, {self.past_last_s:.2f} s "
            f"after its last (appending it took {self.append_s:.2f} s); worker CPU meanwhile "
            f"{self.worker_cpu_s:.2f} s",
            f"worker RSS: before {self.rss_before:.0f} MiB, peak {self.rss_peak:.0f} MiB "
            f"(+{growth:.0f}, aim <= {RSS_GROWTH_TARGET_MIB:.0f}), after {self.rss_after:.0f} MiB",
            f"dead-lettered: {self.dead:,}, the last {self.dead_s:.1f} s after the burst's first entry "
            f"(wait {WAIT_S:g} s); machine load average at the end {self.load:.1f}",
        ]


@dataclass
class Feed:
    """The live feed: its fixtures, and its valid incidents' upstream entry ms by incident id."""

    fixture_ids: list[int]
    sent: dict[int, int]
    stop: asyncio.Event


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.incident_flood", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"a burst of {QUICK_BURST:,}")
    parser.add_argument("--burst", type=int, help="unknown-fixture incidents in the burst")
    args = parser.parse_args()
    burst = args.burst or (QUICK_BURST if args.quick else BURST)
    with backing() as stores:
        figures = run_flood(stores, burst)
    print("\n".join(figures.lines()))


def run_flood(stores: Backing, burst: int) -> Figures:
    """The whole measurement, on storage of its own (its active package must not see other parts' fixtures)
    and the run's Redis, whose incident keys it leaves empty."""
    database = f"sqlite+aiosqlite:///{stores.workdir / 'flood.db'}"
    schema.upgrade(database)
    fixture_ids = asyncio.run(_seed(database, stores.password))
    reset_commands(stores.redis_url)
    env = stores.env(LIVESCORE_INCIDENT_WAIT_S=str(WAIT_S), DATABASE_URL=database)
    try:
        with process(["worker"], env, stores.workdir / "flood-worker.log") as worker:
            return asyncio.run(_measure(stores, worker.pid, burst, fixture_ids))
    except Exception:
        print(logs(stores.workdir)[-3000:])
        raise
    finally:
        asyncio.run(_reset(stores.redis_url))


async def _reset(redis_url: str) -> None:
    redis: Redis = Redis.from_url(redis_url)
    try:
        keys = [INCIDENTS_STREAM, INCIDENT_DEAD_LETTERS_STREAM, INCIDENT_OFFSETS, INCIDENT_WORKERS]
        for p in range(PARTITIONS):
            keys += [
                incident_lease(p),
                incidents_parked(p),
                incidents_parked_fixtures(p),
                incidents_delivered(p),
            ]
        await redis.delete(*keys, incidents_queue(PACKAGE_ID))
    finally:
        await redis.aclose()


async def _seed(database: str, password: str) -> list[int]:
    from cli.demo_fixtures import generate

    fixtures = [
        msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS) for f in generate(FIXTURES, seed=20)
    ]
    engine = open_engine(database)
    try:
        async with engine.begin() as conn:
            await store_fixtures(conn, fixtures)
            await add_package(conn, PACKAGE_ID, "flood@example.com", password, active=True)
    finally:
        await engine.dispose()
    return [f.fixture_id for f in fixtures]


def _message(incident_id: int, fixture_id: int) -> bytes:
    body = {"id": incident_id, "fixtureId": fixture_id, "kind": "Score", "confidence": 1.0}
    body |= {"values": [{"position": 1, "value": 1}, {"position": 2, "value": 0}], "seconds": incident_id}
    return envelope(MessageType.INCIDENT, msgspec.json.encode(body)).body


async def _measure(stores: Backing, pid: int, burst: int, fixture_ids: list[int]) -> Figures:
    redis: Redis = Redis.from_url(stores.redis_url)
    feed, rss = Feed(fixture_ids, {}, asyncio.Event()), [resident_mib(pid)]
    tasks = [asyncio.create_task(_live(redis, feed)), asyncio.create_task(_sample(pid, rss, feed.stop))]
    try:
        await _until(lambda: _delivered(redis, 20), "the first valid incidents")
        # The start-up's first incidents wait for the partitions' leases: not part of the quiet figure.
        quiet_from = max(feed.sent.values())
        await asyncio.sleep(QUIET_S)
        rss_before, cpu_before, started = resident_mib(pid), cpu_seconds(pid), time.perf_counter()
        first, marker = await _burst(redis, burst, fixture_ids[0])
        append_s = time.perf_counter() - started
        await _until(lambda: _has_incident(redis, MARKER_ID), "the marker behind the burst")
        worker_cpu = cpu_seconds(pid) - cpu_before
        read_past = await _queued_ms(redis, MARKER_ID)
        await _until(lambda: _dead(redis, burst), "every incident of the burst dead-lettered")
        settled_ms = max(feed.sent.values())
        await asyncio.sleep(AFTER_S)
        feed.stop.set()
        await asyncio.gather(*tasks)
        rss_after = resident_mib(pid)
        latencies = await _latencies(redis, feed)
    finally:
        feed.stop.set()
        await redis.aclose()
    phases = _phases([(at, lat) for at, lat in latencies if at > quiet_from], first.ms, read_past, settled_ms)
    return Figures(
        *phases,
        (read_past - first.ms) / 1000,
        (read_past - marker.ms) / 1000,
        (settled_ms - first.ms) / 1000,
        append_s,
        worker_cpu,
        os.getloadavg()[0],
        rss_before,
        max(rss),
        rss_after,
        burst,
        await _count(stores),
    )


async def _count(stores: Backing) -> int:
    redis: Redis = Redis.from_url(stores.redis_url)
    try:
        return int(await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM))
    finally:
        await redis.aclose()


async def _live(redis: Redis, feed: Feed) -> None:
    """Valid incidents one by one at RATE a second, until told to stop."""
    started, n = time.perf_counter(), 0
    while not feed.stop.is_set():
        await asyncio.sleep(max(0.0, started + n / RATE - time.perf_counter()))
        incident_id = 1 + n
        message = _message(incident_id, feed.fixture_ids[n % len(feed.fixture_ids)])
        entry_id = await redis.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
        feed.sent[incident_id] = StreamId.parse(entry_id).ms
        n += 1


async def _sample(pid: int, rss: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss.append(resident_mib(pid))
        await asyncio.sleep(SAMPLE_S)


MARKER_ID = 10**9


async def _burst(redis: Redis, burst: int, marker_fixture: int) -> tuple[StreamId, StreamId]:
    """The burst, pipelined, then the marker; the ids of the burst's first entry and of the marker."""
    messages = [*_unknown(burst), _message(MARKER_ID, marker_fixture)]
    first: StreamId | None = None
    for start in range(0, len(messages), PIPELINE_CHUNK):
        pipe = redis.pipeline(transaction=False)
        for message in messages[start : start + PIPELINE_CHUNK]:
            pipe.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
        ids = await pipe.execute()
        first = first or StreamId.parse(ids[0])
    assert first is not None
    return first, StreamId.parse(ids[-1])


def _unknown(count: int) -> Iterator[bytes]:
    for n in range(count):
        yield _message(2 * 10**8 + n, UNKNOWN_FIXTURE_BASE + n)


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no {what} after {PHASE_TIMEOUT_S:.0f} s")


async def _queue(redis: Redis) -> list[tuple[int, int]]:
    """(incident id, queue entry ms) of every incident in the package's queue."""
    entries: Any = await redis.xrange(incidents_queue(PACKAGE_ID))
    found = []
    for entry_id, fields in entries:
        body = msgspec.json.decode(fields[MESSAGE_FIELD.encode()]).get("body")
        if body is not None:
            found.append((int(body["id"]), StreamId.parse(entry_id).ms))
    return found


async def _delivered(redis: Redis, count: int) -> bool:
    return int(await redis.xlen(incidents_queue(PACKAGE_ID))) >= count


async def _has_incident(redis: Redis, incident_id: int) -> bool:
    return any(found == incident_id for found, _ in await _queue(redis))


async def _queued_ms(redis: Redis, incident_id: int) -> int:
    return next(ms for found, ms in await _queue(redis) if found == incident_id)


async def _dead(redis: Redis, count: int) -> bool:
    return int(await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM)) >= count


async def _latencies(redis: Redis, feed: Feed) -> list[tuple[int, float]]:
    """(upstream ms, latency ms) of every valid incident delivered."""
    return [
        (feed.sent[incident_id], float(ms - feed.sent[incident_id]))
        for incident_id, ms in await _queue(redis)
        if incident_id in feed.sent
    ]


Pair = tuple[float, float]


def _phases(
    latencies: list[tuple[int, float]], burst_ms: int, read_past_ms: int, settled_ms: int
) -> tuple[Pair, Pair, Pair, Pair]:
    """p50/p99 of the valid incidents appended before the burst, while it was read past, while it was
    dead-lettered, and after."""
    quiet = [lat for at, lat in latencies if at < burst_ms]
    during = [lat for at, lat in latencies if burst_ms <= at < read_past_ms]
    after = [lat for at, lat in latencies if read_past_ms <= at < settled_ms]
    settled = [lat for at, lat in latencies if at >= settled_ms]
    return _p50_p99(quiet), _p50_p99(during), _p50_p99(after), _p50_p99(settled)


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


if __name__ == "__main__":
    main()
