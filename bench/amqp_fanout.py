"""Snapshot fan-out over AMQP (`python -m bench.amqp_fanout [--quick] [--fast-client]`): a worker with
LIVESCORE_DELIVERY=amqp publishes N upcoming fixtures to a package's queue on a private RabbitMQ node,
beside raw aio-pika publishing of the same messages with confirms, on the same node, in the same run.

Both sides publish persistent messages to a durable classic queue with publisher confirms, 1,000 in flight
at a time (the worker's chunk); the node writes them to disk, which is what bounds both here. The figures
are printed and appended to docs/BENCHMARKS.md's AMQP section by hand (see its text).
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
from redis import Redis

from bench import amqp_baseline as baseline
from bench import memory
from bench.amqp_baseline import broker as baseline_broker
from bench.fanout import _seed, upcoming
from bench.services import Backing, backing
from bench.workers import fields_of, workers
from domain.commands import TriggerSnapshot
from domain.fixtures import encode_fixture
from domain.messages import MessageType, envelopes
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, amqp_queue
from servers import rabbitmq_node

SIZES = (10_000, 100_000)
QUICK_SIZES = (10_000,)
# The worker's chunk (worker/resources.py): messages in flight at once on both sides.
WINDOW = 1000
# Nobody consumes during the run: the limit must not cut the snapshot short.
QUEUE_LIMIT = 1_000_000
FIRST_PACKAGE_ID = 5001
# 100,000 persistent messages at the node's pace (~2k/s here) take about a minute; bounds a stuck run.
SNAPSHOT_TIMEOUT_S = 300
RATE_TARGET = 0.6


@dataclass(frozen=True, slots=True)
class AmqpFanOut:
    fixtures: int
    snapshot_rate: float
    raw_rate: float
    rss_growth_mib: float
    fast_rate: float | None = None  # bench.amqp_baseline's fastest client, when asked for

    @property
    def ratio(self) -> float:
        return self.snapshot_rate / self.raw_rate if self.raw_rate else 0.0


def run(sizes: tuple[int, ...], fast_client: bool = False) -> list[AmqpFanOut]:
    if not rabbitmq_node.installed():
        raise SystemExit(f"bench: RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    results = []
    with backing() as stores, tempfile.TemporaryDirectory() as base:
        node = rabbitmq_node.start_node(Path(base), Settings())
        try:
            settings = node.settings(Settings(queue_limit=QUEUE_LIMIT))
            fixtures, stored = upcoming(max(sizes)), 0
            for index, size in enumerate(sorted(sizes)):
                package_id = FIRST_PACKAGE_ID + index
                asyncio.run(_seed(stores, fixtures[stored:size], package_id))
                stored = size
                rate, growth = _snapshot(stores, settings, package_id, size)
                bodies = [encode_fixture(f) for f in fixtures[:size]]
                raw = asyncio.run(_raw(settings, bodies))
                fast = _fast_client(settings, size) if fast_client else None
                results.append(AmqpFanOut(size, rate, raw, growth, fast))
        finally:
            node.stop()
    return results


def _snapshot(stores: Backing, settings: Settings, package_id: int, size: int) -> tuple[float, float]:
    """One snapshot by a fresh worker delivering over AMQP: (fixtures/s, the worker's peak RSS growth)."""
    env = {
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": settings.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": settings.amqp_management_url,
        "LIVESCORE_QUEUE_LIMIT": str(QUEUE_LIMIT),
    }
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        with workers(stores, 1, **env) as (worker,):
            rss_before = memory.resident_mib(worker.pid)
            started = time.perf_counter()
            client.xadd(COMMANDS_STREAM, fields_of(TriggerSnapshot(package_id=package_id)))
            asyncio.run(_wait_for(settings, package_id, size + 1))
            elapsed = time.perf_counter() - started
            growth = memory.peak_mib(worker.pid) - rss_before
    finally:
        client.close()
    return size / elapsed, growth


async def _wait_for(settings: Settings, package_id: int, count: int) -> None:
    """Until the package's queue holds the whole snapshot and its completion (a passive declare a time)."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel()
        while time.monotonic() < deadline:
            try:
                queue = await channel.declare_queue(amqp_queue(package_id), passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                channel = await connection.channel()
            else:
                if (queue.declaration_result.message_count or 0) >= count:
                    await queue.delete(if_unused=False, if_empty=False)
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the snapshot of {count - 1} fixtures did not arrive within {SNAPSHOT_TIMEOUT_S} s")


async def _raw(settings: Settings, bodies: list[bytes]) -> float:
    """The same messages with plain aio-pika: persistent, confirmed, WINDOW in flight; messages/s."""
    messages = envelopes(MessageType.FIXTURE, bodies, str(uuid.uuid4()))
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        arguments: Any = {"x-max-length": QUEUE_LIMIT, "x-overflow": "reject-publish"}
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        started = time.perf_counter()
        for start in range(0, len(messages), WINDOW):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            m.body,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            content_type="application/json",
                            message_id=m.message_id,
                        ),
                        routing_key=name,
                    )
                    for m in messages[start : start + WINDOW]
                )
            )
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
    return len(messages) / elapsed


def _fast_client(settings: Settings, size: int) -> float:
    """The same number of fixture-sized messages by the baseline's fastest client (pamqp frames over a
    bare socket, WINDOW unconfirmed, a process of its own) to a queue of its own on this node: msg/s."""
    name = f"bench-fast-{uuid.uuid4().hex[:8]}"
    asyncio.run(_declared(settings, name))
    job = {
        "url": _vhost_url(settings),
        "queue": name,
        "count": size,
        "window": WINDOW,
        "templates": baseline_broker.fixture_templates(baseline.MESSAGE_BYTES),
    }
    answer = baseline._publish("raw", "snapshot", job, size / 100)
    baseline_broker.purge(_vhost_url(settings), [name])
    return float(answer["rate"])


async def _declared(settings: Settings, name: str) -> None:
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel()
        arguments: Any = {"x-max-length": QUEUE_LIMIT, "x-overflow": "reject-publish"}
        await channel.declare_queue(name, durable=True, arguments=arguments)


def _vhost_url(settings: Settings) -> str:
    return settings.amqp_url.rstrip("/") + "/" + settings.amqp_fixtures_vhost


def markdown(results: list[AmqpFanOut]) -> str:
    lines = [
        "| fixtures | snapshot over AMQP | raw aio-pika, confirmed | ratio (aim ≥ 0.60) | worker RSS |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        met = "met" if r.ratio >= RATE_TARGET else "not met"
        rates = f"{r.snapshot_rate:,.0f} msg/s | {r.raw_rate:,.0f} msg/s"
        lines.append(f"| {r.fixtures:,} | {rates} | {r.ratio:.2f} ({met}) | +{r.rss_growth_mib:.1f} MiB |")
    fast = [r for r in results if r.fast_rate]
    for r in fast:
        lines.append(
            f"\n{r.fixtures:,} fixtures: fast client (pamqp raw) {r.fast_rate:,.0f} msg/s; "
            f"the snapshot {r.snapshot_rate / (r.fast_rate or 1):.2f} of it (issue 22 aims at 0.8)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amqp_fanout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 fixtures only")
    parser.add_argument(
        "--fast-client",
        action="store_true",
        help="also bench.amqp_baseline's fastest client, on the same node",
    )
    args = parser.parse_args()
    print(markdown(run(QUICK_SIZES if args.quick else SIZES, args.fast_client)))


if __name__ == "__main__":
    main()
