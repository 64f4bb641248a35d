"""Incident fan-out over AMQP (`python -m bench.amqp_incidents [--quick] [--rate R] [--fast-client]`): 50
active packages on a private RabbitMQ node, workers with LIVESCORE_DELIVERY=amqp, beside raw aio-pika
publishing with confirms of the same queue messages on the same node, in the same run.

- Latency: incidents appended upstream at a steady pace; a consumer of every package's incidents queue
  (the service's account) notes when each message arrives; latency = arrival minus the upstream entry's
  time (both this machine's clock, in ms).
  With `--fast-client`, the arrivals are noted by bench.amqp_baseline's consumer (Node's amqplib, in a
  process of its own: Python's aio-pika consumer tops out near 10,000 messages/s here, 200 incidents/s to
  50 packages), each incident stamped with its append time in its body (forwarded as it came), and the
  baseline's fastest client (pamqp frames over a bare socket, publishing the 50 copies itself) runs at
  the same rate on the same node, with the same consumer: issue 22's comparison.
- Backlog: incidents appended at once; queue messages per second until every queue holds them all, with
  1 and 2 workers; raw: the same messages published to 50 queues by aio-pika alone, persistent,
  confirmed, 1,000 in flight.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import msgspec
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bench import amqp_baseline as baseline
from bench.amqp_baseline import broker as baseline_broker
from bench.incidents import (
    FIRST_PACKAGE_ID,
    PACKAGES,
    _incidents,
    _queue_messages,
    _reset,
    _seed,
    _wait_spread,
)
from bench.services import Backing, backing
from bench.workers import workers
from delivery.amqp import AmqpDelivery
from domain.messages import MESSAGE_FIELD
from domain.settings import Settings
from domain.streams import INCIDENTS_STREAM, amqp_queue
from migrations import schema
from servers import rabbitmq_node

# What RabbitMQ sustains here for persistent, confirmed messages is a few thousand a second (see
# docs/BENCHMARKS.md): 40 incidents/s to 50 packages is 2,000 queue messages/s.
RATE = 40
SECONDS, QUICK_SECONDS = 10, 4
BACKLOG, QUICK_BACKLOG = 400, 100
WINDOW = 1000
DELIVERY_TIMEOUT_S = 300


def run(quick: bool, rate: int = RATE, fast_client: bool = False) -> str:
    if not rabbitmq_node.installed():
        raise SystemExit(f"bench: RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    lines = [
        f"| workers | at {rate} incidents/s: p50 ms | p99 ms | backlog: messages/s | raw aio-pika | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with backing() as stores, tempfile.TemporaryDirectory() as base:
        node = rabbitmq_node.start_node(Path(base), Settings())
        try:
            settings = node.settings(Settings())
            database = f"sqlite+aiosqlite:///{stores.workdir / 'amqp-incidents.db'}"
            schema.upgrade(database)
            fixture_ids = asyncio.run(_seed(database, stores.password))
            asyncio.run(_provision(settings, stores.redis_url))
            backlog = list(_incidents(fixture_ids, QUICK_BACKLOG if quick else BACKLOG, 10**7))
            raw = asyncio.run(_raw(settings, _queue_messages(backlog)))
            seconds = QUICK_SECONDS if quick else SECONDS
            if fast_client:
                lines[:0] = [_fast_client(settings, rate, seconds), ""]
            for count in (1, 2):
                p50, p99, drained = _measure(
                    stores, settings, database, fixture_ids, count, seconds, backlog, rate, fast_client
                )
                lines.append(
                    f"| {count} | {p50:.0f} | {p99:.0f} | {drained:,.0f} | {raw:,.0f} | {drained / raw:.2f} |"
                )
        finally:
            node.stop()
    return "\n".join(lines)


async def _provision(settings: Settings, redis_url: str) -> None:
    """The packages' queues, as their activation would declare them."""
    redis: AsyncRedis = AsyncRedis.from_url(redis_url)
    delivery = AmqpDelivery(settings, redis)
    try:
        for i in range(PACKAGES):
            await delivery.provision(FIRST_PACKAGE_ID + i)
    finally:
        await delivery.close()
        await redis.aclose()


def _measure(
    stores: Backing,
    settings: Settings,
    database: str,
    fixture_ids: list[int],
    count: int,
    seconds: int,
    backlog: list[bytes],
    rate: int,
    node_consumer: bool,
) -> tuple[float, float, float]:
    env = {
        "DATABASE_URL": database,
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": settings.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": settings.amqp_management_url,
    }
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        _reset(client)
        with workers(stores, count, **env):
            _wait_spread(client, count)
            paced = list(_incidents(fixture_ids, rate * seconds, 10**6 * count))
            if node_consumer:
                p50, p99 = _paced_and_received_by_node(stores.redis_url, settings, paced, rate)
            else:
                latencies = asyncio.run(_paced_and_received(stores.redis_url, settings, paced, rate))
                quantiles = statistics.quantiles(latencies, n=100)
                p50, p99 = quantiles[49], quantiles[98]
            drained = asyncio.run(_drained(client, settings, backlog))
    finally:
        _reset(client)
        client.close()
    return p50, p99, drained


def _paced_and_received_by_node(
    redis_url: str, settings: Settings, messages: list[bytes], rate: int
) -> tuple[float, float]:
    """As `_paced_and_received`, the arrivals noted by the baseline's Node consumer: (p50, p99) ms."""
    url, names = _vhost_url(settings), [amqp_queue(FIRST_PACKAGE_ID + i) for i in range(PACKAGES)]
    baseline_broker.purge(url, names)
    with baseline._consumer(url, names) as consumer:
        asyncio.run(_paced(redis_url, messages, rate, stamp=True))
        seen = consumer.figures(len(messages) * PACKAGES, baseline.DRAIN_S)
    if seen["received"] != len(messages) * PACKAGES:  # the figures are then of what arrived
        print(f"only {seen['received']:,} of {len(messages) * PACKAGES:,} messages arrived", file=sys.stderr)
    return float(seen["p50"] or 0.0), float(seen["p99"] or 0.0)


def _fast_client(settings: Settings, rate: int, seconds: int) -> str:
    """The baseline's fastest client at `rate` on this node, 50 queues of its own: its line."""
    baseline._npm_ci()
    url = _vhost_url(settings)
    queues = baseline_broker.declare(
        url, baseline_broker.vhost_url(settings, "fixtures"), settings.queue_limit
    )
    templates = baseline_broker.incident_templates(baseline.MESSAGE_BYTES)
    with baseline._consumer(url, queues.incidents) as consumer:
        warm_up = baseline._job(url, queues, templates, "copies", rate, baseline.WARM_UP_S)
        baseline._step("raw", "copies", warm_up, consumer)
        baseline_broker.purge(url, queues.incidents)
        step = baseline._step(
            "raw", "copies", baseline._job(url, queues, templates, "copies", rate, seconds), consumer
        )
    return (
        f"Fast client (pamqp raw, copies) at {rate} incidents/s: {step.delivered:,}/{step.expected:,} "
        f"delivered, p50 {step.p50_ms:.0f} ms, p99 {step.p99_ms:.0f} ms, "
        f"publisher behind {step.behind_ms:.0f} ms"
    )


async def _paced_and_received(
    redis_url: str, settings: Settings, messages: list[bytes], rate: int
) -> list[float]:
    """Append at `rate` while a consumer of every queue notes each arrival; ms from upstream to queue."""
    arrivals: list[tuple[int, float]] = []
    expected = len(messages) * PACKAGES
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        for i in range(PACKAGES):
            queue = await channel.declare_queue(amqp_queue(FIRST_PACKAGE_ID + i), passive=True)
            await queue.purge()
            await queue.consume(_noting(arrivals), no_ack=True)
        sent = await _paced(redis_url, messages, rate)
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while len(arrivals) < expected and time.monotonic() < deadline:  # noqa: ASYNC110 - a poll of a count
            await asyncio.sleep(0.05)
    return [at - sent[incident] for incident, at in arrivals]


async def _paced(redis_url: str, messages: list[bytes], rate: int, stamp: bool = False) -> dict[int, float]:
    """Append the messages one by one at `rate` a second; the time (ms) each incident id was appended.
    Stamped: that time also first in the incident's body, as `createdMs` (what the Node consumer reads)."""
    client: AsyncRedis = AsyncRedis.from_url(redis_url)
    sent: dict[int, float] = {}
    try:
        started = time.perf_counter()
        for n, message in enumerate(messages):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            now = sent[msgspec.json.decode(message)["body"]["id"]] = time.time() * 1000
            if stamp:
                message = message.replace(b'"body":{', b'"body":{"createdMs":%.3f,' % now, 1)
            await client.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
    finally:
        await client.aclose()
    return sent


def _noting(arrivals: list[tuple[int, float]]) -> Any:
    async def note(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        incident = msgspec.json.decode(message.body)["body"]["id"]
        arrivals.append((incident, time.time() * 1000))

    return note


async def _drained(client: Redis, settings: Settings, messages: list[bytes]) -> float:
    """The backlog appended at once; queue messages per second until every queue holds all of it."""
    expected = len(messages)
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel()
        queues = [
            await channel.declare_queue(amqp_queue(FIRST_PACKAGE_ID + i), passive=True)
            for i in range(PACKAGES)
        ]
        for queue in queues:
            await queue.purge()
        started = time.perf_counter()
        pipe = client.pipeline(transaction=True)
        for message in messages:
            pipe.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message})
        pipe.execute()
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            counts = [(await queue.declare()).message_count or 0 for queue in queues]
            if min(counts) >= expected:
                return expected * PACKAGES / (time.perf_counter() - started)
            await asyncio.sleep(0.05)
    raise RuntimeError("the backlog was not delivered in time")


async def _raw(settings: Settings, messages: list[bytes]) -> float:
    """The same queue messages with plain aio-pika to 50 queues of their own: messages/s."""
    names = [f"bench-raw-{uuid.uuid4().hex[:6]}-{i}" for i in range(PACKAGES)]
    per_queue = len(messages) // PACKAGES
    async with await aio_pika.connect(_vhost_url(settings)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for name in names:
            await channel.declare_queue(name, durable=True)
        started = time.perf_counter()
        routed = [(names[n % PACKAGES], m) for n, m in enumerate(messages)]
        for start in range(0, len(routed), WINDOW):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=name,
                    )
                    for name, body in routed[start : start + WINDOW]
                )
            )
        elapsed = time.perf_counter() - started
        for name in names:
            await channel.queue_delete(name)
    return per_queue * PACKAGES / elapsed


def _vhost_url(settings: Settings) -> str:
    return settings.amqp_url.rstrip("/") + "/" + settings.amqp_incidents_vhost


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amqp_incidents", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=RATE, help=f"incidents/s of the latency figures ({RATE})")
    parser.add_argument(
        "--fast-client", action="store_true", help="Node's consumer, and the baseline's fastest client beside"
    )
    args = parser.parse_args()
    print(run(args.quick, args.rate, args.fast_client))


if __name__ == "__main__":
    main()
