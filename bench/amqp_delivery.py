"""The service's AMQP delivery beside the fastest honest clients, on one node, in one run (issue 22):
`python -m bench.amqp_delivery [--seconds S] [--quick] [--write-doc] [--cluster | --snapshot | --incidents]`.

On one private RabbitMQ 3.10 node (classic queues):

1. **The fast clients** of `bench/amqp_baseline` (Node's amqplib, and pamqp frames over a bare socket),
   each in its own process, publish 200 incidents/s for S seconds to 50 queues declared as the service
   declares them, in two ways: the 50 copies themselves, and one publish to a fanout exchange. Then the
   raw client does the service's own job, both ways: it relays incidents appended to a Redis stream at
   the same pace (read as the worker reads them, published as they come), so that the stream's hop is
   on both sides of that comparison ("relay").
2. **The service**: 50 active packages subscribed to everything, their queues provisioned as activation
   does, one worker with LIVESCORE_DELIVERY=amqp; incidents appended to `livescore:incidents` at the same
   pace, for the same time. Their bodies carry `createdMs` (the append time), which the service forwards
   byte for byte (SPEC §10). Then the service's rate is raised step by step while it holds.
3. **Snapshot**, after all the incident steps: 20,000 fixtures to one queue, three turns by each fast client
   (≤ 1,000 unconfirmed), then three by the service (a trigger; from the command's append to the
   completion's arrival); each compared by its median. `--snapshot` runs only this part, on a fresh node.

One consumer (amqplib, the service's account, no-ack) reads every queue of a step; latency = arrival
minus `createdMs`. The aims (issue 22): the service's incidents p99 no worse than the fast client
publishing the same copies (ratio ≥ 1.0, all delivered); its snapshot ≥ 0.8 of the fast client's rate.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aio_pika
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bench.amqp_baseline import (
    CLIENTS,
    DRAIN_S,
    MESSAGE_BYTES,
    P99_LIMIT_MS,
    PUBLISH_SLACK_S,
    RAMP,
    SNAPSHOT_TURNS,
    WARM_UP_S,
    Consumer,
    Results,
    Step,
    _consumer,
    _job,
    _now,
    _npm_ci,
    _report_progress,
    _snapshots,
    _step,
    broker,
)
from bench.amqp_incidents import _provision
from bench.fanout import _seed as seed_snapshot
from bench.fanout import upcoming
from bench.incidents import FIRST_PACKAGE_ID, PACKAGES, _reset, _seed, _wait_spread
from bench.services import Backing, amqp_environment, backing
from bench.workers import fields_of, workers
from domain.amqp_urls import node_urls
from domain.commands import TriggerSnapshot
from domain.fixtures import Ref
from domain.incidents import Incident, Value, encode_incident
from domain.messages import MESSAGE_FIELD, MessageType, envelope
from domain.packages import add_package
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, INCIDENTS_STREAM, amqp_queue
from migrations import schema
from servers import rabbitmq_cluster, rabbitmq_node

RATE = 200
SECONDS, QUICK_SECONDS = 10.0, 3.0
FAST = ("amqplib", "raw")
WAYS = ("copies", "exchange")
SNAPSHOT = 20_000
SNAPSHOT_PACKAGE = 5999
# Subscribed to a sport with no fixture: its snapshot is its completion alone (the worker's warm-up).
WARM_UP_PACKAGE = 5998
# How often the observer asks the snapshot's queue for its length.
OBSERVE_S = 0.005
NO_SPORT = 999_999
SNAPSHOT_TIMEOUT_S = 300
# The snapshot's queue must take it whole, and incidents' queues a backlog of a slow step.
QUEUE_LIMIT = 1_000_000
INCIDENTS_TARGET, SNAPSHOT_TARGET = 1.0, 0.8
# The raw client's relay: its own stream beside the service's, and fixtures that only size the bodies.
RELAY_STREAM = "bench:relay"
RELAY_FIXTURES = [1_000_000 + n for n in range(PACKAGES)]
DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:amqp-delivery:begin -->", "<!-- bench:amqp-delivery:end -->"


@dataclass
class Comparison:
    seconds: float
    fast: Results
    service: list[Step] = field(default_factory=list)
    # Each turn's rate; the median is compared, as the fast clients' is.
    service_snapshots: list[float] = field(default_factory=list)
    # Three nodes and quorum queues instead of one node's classic queues.
    cluster: bool = False
    started: str = ""
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def service_snapshot(self) -> float:
        return statistics.median(self.service_snapshots) if self.service_snapshots else 0.0

    def best_copies(self) -> Step:
        """The fast client publishing the copies with the lowest p99 at RATE (all delivered), of those
        that ran."""
        steps = [s for s in self.fast.steps if (s.way, s.rate) == ("copies", RATE)]
        return min(steps, key=lambda s: (s.delivered != s.expected, s.p99_ms))

    def best_snapshot(self) -> tuple[str, float]:
        return max(((c, self.fast.snapshot(c)) for c in FAST), key=lambda pair: pair[1])

    def service_at_rate(self) -> Step:
        return next(s for s in self.service if s.rate == RATE)

    def held(self) -> int | None:
        rates = [s.rate for s in self.service if s.held]
        return max(rates) if rates else None

    def incidents_ratio(self) -> float:
        """The fastest client's copies' p99 ÷ the service's at RATE (0 when the service lost any)."""
        return _p99_ratio(self.best_copies(), self.service_at_rate())

    def same_job_ratio(self) -> float:
        """The raw client's relay of the same stream as copies, its p99 ÷ the service's (0 when either
        lost any, or the relay did not run)."""
        relay = next((s for s in self.fast.steps if s.way == "relay copies"), None)
        if relay is None or relay.delivered != relay.expected:
            return 0.0
        return _p99_ratio(relay, self.service_at_rate())

    def snapshot_ratio(self) -> float:
        fastest = self.best_snapshot()[1]
        return self.service_snapshot / fastest if fastest else 0.0


def _p99_ratio(baseline: Step, service: Step) -> float:
    """The baseline's p99 ÷ the service's (0 when the service lost any)."""
    if service.delivered != service.expected or not service.p99_ms:
        return 0.0
    return baseline.p99_ms / service.p99_ms


def run(seconds: float, cluster: bool = False) -> Comparison:
    with backing() as stores:
        return measure(stores, seconds, cluster)


def missing() -> str | None:
    """What this machine lacks for the comparison, if anything."""
    if not rabbitmq_node.installed():
        return f"RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node and npm are needed for the amqplib client (apt-get install nodejs npm)"
    return None


def measure(stores: Backing, seconds: float, cluster: bool = False) -> Comparison:
    """The whole comparison on a node of its own (`cluster`: three nodes, quorum queues), beside the
    run's Redis and storage."""
    lacking = missing()
    if lacking:
        raise SystemExit(f"bench: {lacking}")
    _npm_ci()
    fast = Results(seconds, RATE)
    comparison = Comparison(seconds, fast, started=_now(), load_before=os.getloadavg(), cluster=cluster)
    with tempfile.TemporaryDirectory() as base:
        started = rabbitmq_cluster.start_cluster if cluster else rabbitmq_node.start_node
        servers = started(Path(base), Settings())
        try:
            settings = servers.settings(Settings(queue_limit=QUEUE_LIMIT))
            # The fast clients publish on the first node, as one connection of the service does.
            first = replace(settings, amqp_url=node_urls(settings.amqp_url)[0])
            snapshot_queue = _fast_clients(first, fast, relay_from=stores.redis_url)
            _service(stores, settings, comparison)
            # Every snapshot at the same point of the run, after all the incident steps: the node's
            # message store is in the same state for the fast clients' turns as for the service's.
            _snapshots(broker.vhost_url(first, "fixtures"), snapshot_queue, fast, FAST)
            environment = amqp_environment(settings, QUEUE_LIMIT)
            comparison.service_snapshots = _service_snapshot(stores, settings, environment)
        finally:
            servers.stop()
    comparison.load_after = os.getloadavg()
    return comparison


def _fast_clients(
    settings: Settings, results: Results, clients: tuple[str, ...] = FAST, relay_from: str | None = None
) -> str:
    """The fast clients' incident steps, and the raw client's relay from the stream of `relay_from` (a
    Redis URL); the snapshot's queue, declared for their snapshot turns."""
    incidents_url = broker.vhost_url(settings, "incidents")
    fixtures_url = broker.vhost_url(settings, "fixtures")
    queues = broker.declare(incidents_url, fixtures_url, settings.queue_limit, settings.amqp_queue_type)
    templates = broker.incident_templates(MESSAGE_BYTES)
    with _consumer(incidents_url, queues.incidents) as consumer:
        for client in clients:
            for way in WAYS:
                _step(client, way, _job(incidents_url, queues, templates, way, RATE, WARM_UP_S), consumer)
                broker.purge(incidents_url, queues.incidents)
                job = _job(incidents_url, queues, templates, way, RATE, results.seconds)
                step = _step(client, way, job, consumer)
                _report_progress(step)
                results.steps.append(step)
                broker.purge(incidents_url, queues.incidents)
        if relay_from is not None:
            for way in WAYS:
                _relay_step(relay_from, incidents_url, queues, way, WARM_UP_S, consumer)
                broker.purge(incidents_url, queues.incidents)
                step = _relay_step(relay_from, incidents_url, queues, way, results.seconds, consumer)
                _report_progress(step)
                results.steps.append(step)
                broker.purge(incidents_url, queues.incidents)
    return queues.snapshot


def _relay_step(
    redis_url: str, url: str, queues: broker.Queues, way: str, seconds: float, consumer: Consumer
) -> Step:
    """The service's job done by the raw client with the least work: incidents appended to a stream at
    RATE, as the service's are, and published by the client as it reads them (`way`: copies or once
    to the exchange). The same job as the service's, where the other steps leave out the stream."""
    count = int(RATE * seconds)
    job = {
        **_job(url, queues, [], way, RATE, seconds),
        "redisUrl": redis_url,
        "stream": RELAY_STREAM,
        "field": MESSAGE_FIELD,
        "after": "0-0",
        "count": count,
    }
    expected = count * len(queues.incidents)
    with Redis.from_url(redis_url) as client:
        client.delete(RELAY_STREAM)  # read from its start: nothing of an earlier step
        with subprocess.Popen(
            [*CLIENTS["raw"], "relay", json.dumps(job)], stdout=subprocess.PIPE, text=True
        ) as relay:
            assert relay.stdout is not None
            if json.loads(relay.stdout.readline() or "{}").get("ready") is not True:
                raise RuntimeError("the relay did not start")
            behind = asyncio.run(_append_paced(redis_url, RELAY_FIXTURES, RATE, count, 1, RELAY_STREAM))
            seen = consumer.figures(expected, DRAIN_S)
            output = relay.communicate(timeout=DRAIN_S + PUBLISH_SLACK_S)[0]
        client.delete(RELAY_STREAM)
    answer = json.loads(output.splitlines()[-1])
    return Step.arrived("raw", f"relay {way}", RATE, expected, seen, int(answer["nacked"]), behind)


def _service(stores: Backing, settings: Settings, comparison: Comparison, ramp: bool = True) -> None:
    database = f"sqlite+aiosqlite:///{stores.workdir / 'amqp-delivery.db'}"
    schema.upgrade(database)
    fixture_ids = asyncio.run(_seed(database, stores.password))
    asyncio.run(_provision(settings, stores.redis_url))
    env = {"DATABASE_URL": database, **amqp_environment(settings, QUEUE_LIMIT)}
    first_node = replace(settings, amqp_url=node_urls(settings.amqp_url)[0])
    incidents_url = broker.vhost_url(first_node, "incidents")
    names = [amqp_queue(FIRST_PACKAGE_ID + i) for i in range(PACKAGES)]
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        _reset(client)
        with workers(stores, 1, **env), _consumer(incidents_url, names) as consumer:
            _wait_spread(client, 1)
            first_id = 1
            _paced_step(stores, fixture_ids, RATE, WARM_UP_S, first_id, consumer)
            first_id += int(RATE * WARM_UP_S)
            for rate in [RATE, *(r for r in RAMP if r > RATE)] if ramp else [RATE]:
                step = _paced_step(stores, fixture_ids, rate, comparison.seconds, first_id, consumer)
                first_id += int(rate * comparison.seconds)
                _report_progress(step)
                comparison.service.append(step)
                if not step.held:
                    break
        _reset(client)
    finally:
        client.close()


@contextlib.contextmanager
def _fresh_node() -> Iterator[tuple[Backing, Settings]]:
    """The run's Redis and storage, and one private node of its own, for a part run alone."""
    if (lacking := missing()) is not None:
        raise SystemExit(f"bench: {lacking}")
    _npm_ci()
    with backing() as stores, tempfile.TemporaryDirectory() as base:
        node = rabbitmq_node.start_node(Path(base), Settings())
        try:
            yield stores, node.settings(Settings(queue_limit=QUEUE_LIMIT))
        finally:
            node.stop()


def snapshots_alone() -> str:
    """Only the snapshot part, on a fresh node: each fast client's turns, then the service's."""
    fast = Results(0.0, RATE)
    started, load = _now(), os.getloadavg()
    with _fresh_node() as (stores, settings):
        fixtures_url = broker.vhost_url(settings, "fixtures")
        queues = broker.declare(broker.vhost_url(settings, "incidents"), fixtures_url, QUEUE_LIMIT)
        _snapshots(fixtures_url, queues.snapshot, fast, FAST)
        schema.upgrade(stores.database_url)
        service = _service_snapshot(stores, settings, amqp_environment(settings, QUEUE_LIMIT))
    runs = {**fast.snapshots, "the service": service}
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    fastest = max(medians[client] for client in FAST)
    lines = [
        f"Snapshot of {SNAPSHOT:,} alone, {started}, load {load[0]:.2f} (msg/s, the median of the turns):"
    ]
    lines += [
        f"- {name}: {medians[name]:,.0f} ({', '.join(f'{r:,.0f}' for r in rates)})"
        for name, rates in runs.items()
    ]
    lines.append(f"- the service ÷ the fastest client: {medians['the service'] / fastest:.2f}")
    return "\n".join(lines)


def incidents_alone(seconds: float) -> str:
    """Only the incidents at RATE, on a fresh node: the raw client's copies and its one publish to the
    exchange, then the service (no ramp): the quick loop for work on the incident path."""
    comparison = Comparison(seconds, Results(seconds, RATE), started=_now(), load_before=os.getloadavg())
    with _fresh_node() as (stores, settings):
        _fast_clients(settings, comparison.fast, clients=("raw",), relay_from=stores.redis_url)
        _service(stores, settings, comparison, ramp=False)
    ways = [*WAYS, *(f"relay {way}" for way in WAYS)]
    steps = [comparison.fast.at_rate("raw", way) for way in ways] + [comparison.service_at_rate()]
    load = _load(comparison.load_before)
    lines = [f"Incidents at {RATE}/s to {PACKAGES} packages alone, {comparison.started}, load {load}:"]
    lines += [
        f"- {s.client} {s.way}: p50 {s.p50_ms:,.1f} ms, p99 {s.p99_ms:,.1f} ms, max {s.max_ms:,.0f} ms, "
        f"{s.delivered:,} of {s.expected:,}"
        for s in steps
    ]
    lines.append(f"- the raw copies' p99 ÷ the service's: {comparison.incidents_ratio():.2f}")
    lines.append(f"- the raw relay's copies' p99 ÷ the service's: {comparison.same_job_ratio():.2f}")
    return "\n".join(lines)


def _paced_step(
    stores: Backing, fixture_ids: list[int], rate: int, seconds: float, first_id: int, consumer: Consumer
) -> Step:
    """Incidents appended at `rate` for `seconds`, each stamped with its append time."""
    count = int(rate * seconds)
    behind = asyncio.run(_append_paced(stores.redis_url, fixture_ids, rate, count, first_id))
    expected = count * PACKAGES
    seen = consumer.figures(expected, DRAIN_S)
    return Step.arrived("service", "1 worker", rate, expected, seen, 0, behind)


async def _append_paced(
    redis_url: str,
    fixture_ids: list[int],
    rate: int,
    count: int,
    first_id: int,
    stream: str = INCIDENTS_STREAM,
) -> float:
    """Append `count` incidents at `rate`; how late the appending fell behind its pace at most (ms)."""
    client: AsyncRedis = AsyncRedis.from_url(redis_url)
    behind = 0.0
    try:
        started = time.time() * 1000
        for n in range(count):
            due = started + n * 1000 / rate
            await asyncio.sleep(max(0.0, (due - time.time() * 1000) / 1000))
            now = time.time() * 1000
            behind = max(behind, now - due)
            message = _stamped(fixture_ids[n % len(fixture_ids)], first_id + n, now)
            await client.xadd(stream, {MESSAGE_FIELD: message})
    finally:
        await client.aclose()
    return behind


def _stamped(fixture_id: int, incident_id: int, created_ms: float) -> bytes:
    """An incident of realistic size whose body carries its creation time first (kept byte for byte)."""
    incident = Incident(
        id=incident_id,
        fixture_id=fixture_id,
        kind="Score" if incident_id % 3 == 0 else "Statistic",
        confidence=1.0,
        name="Score" if incident_id % 3 == 0 else "Corners",
        values=[Value(1, incident_id % 4), Value(2, incident_id % 3)],
        period=Ref(1, "1st Half"),
        seconds=incident_id % 5400,
    )
    body = b'{"createdMs":' + f"{created_ms:.3f}".encode() + b"," + encode_incident(incident)[1:]
    return envelope(MessageType.INCIDENT, body).body


def _service_snapshot(stores: Backing, settings: Settings, env: dict[str, str]) -> list[float]:
    """The service's snapshot of SNAPSHOT fixtures to one package, as many times as each fast client's
    (SNAPSHOT_TURNS): messages/s, from the trigger to the completion in the queue. Timed as the fast
    clients are: the worker already running and connected (a first, empty snapshot of another package
    opens its connections, as any earlier message would), the observer connected before the trigger and
    looking every few milliseconds."""
    asyncio.run(seed_snapshot(stores, upcoming(SNAPSHOT), SNAPSHOT_PACKAGE))
    asyncio.run(_seed_warm_up(stores))
    first_node = replace(settings, amqp_url=node_urls(settings.amqp_url)[0])
    with workers(stores, 1, **{**env, "DATABASE_URL": stores.database_url}):
        asyncio.run(_triggered_and_arrived(stores, first_node, WARM_UP_PACKAGE, 1))
        rates = []
        for _ in range(SNAPSHOT_TURNS):
            seconds = asyncio.run(_triggered_and_arrived(stores, first_node, SNAPSHOT_PACKAGE, SNAPSHOT + 1))
            rates.append((SNAPSHOT + 1) / seconds)
        return rates


async def _seed_warm_up(stores: Backing) -> None:
    engine = open_engine(stores.database_url)
    try:
        async with engine.begin() as conn:
            await add_package(
                conn, WARM_UP_PACKAGE, "warm-up", stores.password, active=True, sports=[NO_SPORT]
            )
    finally:
        await engine.dispose()


async def _triggered_and_arrived(stores: Backing, settings: Settings, package_id: int, count: int) -> float:
    """Seconds from a snapshot's trigger to `count` messages in the package's queue (then purged)."""
    client: AsyncRedis = AsyncRedis.from_url(stores.redis_url)
    url = settings.amqp_url.rstrip("/") + "/" + settings.amqp_fixtures_vhost
    try:
        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            started = time.perf_counter()
            await client.xadd(COMMANDS_STREAM, fields_of(TriggerSnapshot(package_id=package_id)))
            deadline = started + SNAPSHOT_TIMEOUT_S
            while time.perf_counter() < deadline:
                with contextlib.suppress(aio_pika.exceptions.ChannelNotFoundEntity):
                    queue = await channel.declare_queue(amqp_queue(package_id), passive=True)
                    if (queue.declaration_result.message_count or 0) >= count:
                        seconds = time.perf_counter() - started
                        await queue.purge()  # emptied for the next turn, which publishes to it again
                        return seconds
                if channel.is_closed:
                    channel = await connection.channel()
                await asyncio.sleep(OBSERVE_S)
    finally:
        await client.aclose()
    raise RuntimeError(f"{count} messages did not arrive within {SNAPSHOT_TIMEOUT_S} s")


def markdown(c: Comparison) -> str:
    service = c.service_at_rate()
    held = c.held()
    steps = ", ".join(
        f"{s.rate}/s p99 {s.p99_ms:,.0f} ms ({s.delivered:,}/{s.expected:,})" for s in c.service
    )
    runs = {**c.fast.snapshots, "the service": c.service_snapshots}
    snapshots = "; ".join(f"{k} {', '.join(f'{v:,.0f}' for v in vs)}" for k, vs in runs.items())
    return "\n".join(
        [
            "## AMQP delivery: the service beside the fast clients (issue 22)",
            "",
            f"Measured {c.started} with `python -m bench.amqp_delivery --seconds {c.seconds:g}"
            + (
                " --cluster` on a private three-node RabbitMQ 3.10 cluster on this machine (quorum queues)"
                if c.cluster
                else "` on one private RabbitMQ 3.10 node (classic queues)"
            )
            + f"; load average before {_load(c.load_before)}, after {_load(c.load_after)}.",
            "",
            f"| {RATE} incidents/s to {PACKAGES} queues, {c.seconds:g} s "
            "| delivered | p50 ms | p99 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(_row(f"{s.client}, {s.way}", s) for s in c.fast.steps),
            _row("**the service**, 1 worker", service),
            "",
            *_aims(c, service),
            "",
            f"The service's highest rate held for {c.seconds:g} s with p99 ≤ {P99_LIMIT_MS:,.0f} ms, all "
            "delivered: "
            + (f"**{held} incidents/s** ({held * PACKAGES:,} queue messages/s)." if held else "none.")
            + f" Every step: {steps}. Snapshot runs, each compared by its median (msg/s): {snapshots}.",
        ]
    )


def _aims(c: Comparison, service: Step) -> list[str]:
    """Issue 22's two aims: the service's figures beside the fastest client's, and whether met."""
    copies = c.best_copies()
    ratio = copies.p99_ms / service.p99_ms if service.p99_ms else 0.0
    fast_name, fast_rate = c.best_snapshot()
    snapshot_ratio = c.service_snapshot / fast_rate if fast_rate else 0.0
    delivered = service.delivered == service.expected
    incidents_aim = f"≥ {INCIDENTS_TARGET:g}, all delivered"
    return [
        "| aim | figure | met |",
        "| --- | --- | --- |",
        f"| incidents p99, the fastest client's copies ({copies.client}) ÷ the service's, "
        f"{incidents_aim} "
        f"| {copies.p99_ms:,.1f} ÷ {service.p99_ms:,.1f} = {ratio:.2f} "
        f"| {_yes(ratio >= INCIDENTS_TARGET and delivered)} |",
        "| incidents p99, the same job: the raw client relaying the stream as copies ÷ the service's "
        f"(no aim) | {c.same_job_ratio():.2f} | |",
        f"| snapshot of {SNAPSHOT:,}, the service ÷ the fastest client ({fast_name}), "
        f"≥ {SNAPSHOT_TARGET:g} "
        f"| {c.service_snapshot:,.0f} ÷ {fast_rate:,.0f} msg/s = {snapshot_ratio:.2f} "
        f"| {_yes(snapshot_ratio >= SNAPSHOT_TARGET)} |",
    ]


def _row(name: str, s: Step) -> str:
    figures = f"{s.p50_ms:,.1f} | {s.p99_ms:,.1f} | {s.max_ms:,.0f}"
    return f"| {name} | {s.delivered:,}/{s.expected:,} | {figures} |"


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc:
        before, rest = doc.split(BEGIN, 1)
        doc = before + block + rest.split(END, 1)[1]
    else:
        marker = "<!-- bench:amqp-baseline:begin -->"
        doc = doc.replace(marker, block + "\n\n" + marker, 1)
    DOC.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amqp_delivery", description=__doc__)
    parser.add_argument("--seconds", type=float, help=f"seconds per step (default {SECONDS:g})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per step")
    parser.add_argument("--write-doc", action="store_true", help="the figures into docs/BENCHMARKS.md")
    parser.add_argument("--cluster", action="store_true", help="three nodes, quorum queues (no aim)")
    parser.add_argument("--snapshot", action="store_true", help="only the snapshot part, on a fresh node")
    parser.add_argument(
        "--incidents", action="store_true", help=f"only the incidents at {RATE}/s, fresh node"
    )
    args = parser.parse_args()
    if args.snapshot:
        print(snapshots_alone())
        return
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    if args.incidents:
        print(incidents_alone(seconds))
        return
    text = markdown(run(seconds, args.cluster))
    print(text)
    if args.write_doc:
        write_doc(text)
        print(f"written to {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
