"""Delivery over a RabbitMQ cluster (`python -m bench.amqp_cluster [--quick]`): snapshot fan-out on one node
(classic queue, then quorum queue) beside a three-node cluster with quorum queues, in the same run; then
the failover gap — from SIGKILL of the node that leads the package's queue (and holds the worker's and
the customer's connections) until the customer receives again — over a few kills.

Every node runs on this one machine (servers/rabbitmq_node.py, servers/rabbitmq_cluster.py): the cluster's
three nodes share its two cores and its disk, so the cluster figure is what replication costs here, not
what three machines would give.
The figures are printed; docs/BENCHMARKS.md's "Delivery over a RabbitMQ cluster" notes them by hand.
"""

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import aio_pika
import httpx
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bench.fanout import _seed, upcoming
from bench.services import Backing, amqp_environment, backing
from bench.workers import fields_of, workers
from delivery.amqp import AmqpDelivery
from delivery.amqp_readers import AmqpQueueReader
from domain.commands import TriggerSnapshot
from domain.delivery import QueueKind
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, amqp_queue
from servers import rabbitmq_cluster, rabbitmq_node
from servers.rabbitmq_cluster import RabbitMQCluster
from servers.rabbitmq_node import SERVICE_USER, RabbitMQNode

SIZE, QUICK_SIZE = 20_000, 5_000
KILLS, QUICK_KILLS = 3, 1
# Nobody consumes during the fan-out runs: the limit must not cut a snapshot short.
QUEUE_LIMIT = 1_000_000
FIRST_PACKAGE_ID = 6001
# Fixtures the customer has received when the leader is killed: the snapshot is well under way.
KILL_AFTER = 2_000
# Deliveries from this long before the kill on count toward the gap (the silence may start just before).
KILL_WINDOW_S = 0.5
# A snapshot of 20,000 persistent messages takes seconds; bounds a stuck run.
SNAPSHOT_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class FanOut:
    where: str
    fixtures: int
    rate: float


@dataclass(frozen=True, slots=True)
class Gap:
    seconds: float
    worker_moved_s: float


def run(size: int, kills: int) -> tuple[list[FanOut], list[Gap]]:
    if not rabbitmq_node.installed():
        raise SystemExit(f"bench: RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})")
    fixtures = upcoming(size)
    with backing() as stores, tempfile.TemporaryDirectory() as base:
        for index in range(kills + 3):
            asyncio.run(_seed(stores, fixtures if index == 0 else [], FIRST_PACKAGE_ID + index))
        fan_outs = _one_node(stores, Path(base) / "single", size)
        with _cluster(Path(base) / "cluster") as cluster:
            settings = cluster.settings(Settings(queue_limit=QUEUE_LIMIT))
            fan_outs.append(FanOut("3-node cluster, quorum", size, _snapshot(stores, settings, 6003, size)))
            gaps = [
                _failover(stores, cluster, settings, FIRST_PACKAGE_ID + 3 + i, size) for i in range(kills)
            ]
    return fan_outs, gaps


def _one_node(stores: Backing, base: Path, size: int) -> list[FanOut]:
    node = rabbitmq_node.start_node(base, Settings())
    try:
        settings = node.settings(Settings(queue_limit=QUEUE_LIMIT))
        classic = _snapshot(stores, settings, FIRST_PACKAGE_ID, size)
        quorum = _snapshot(stores, replace(settings, amqp_queue_type="quorum"), FIRST_PACKAGE_ID + 1, size)
    finally:
        node.stop()
    return [FanOut("one node, classic", size, classic), FanOut("one node, quorum", size, quorum)]


@contextmanager
def _cluster(base: Path) -> Iterator[RabbitMQCluster]:
    cluster = rabbitmq_cluster.start_cluster(base, Settings())
    try:
        yield cluster
    finally:
        cluster.stop()


def _snapshot(stores: Backing, settings: Settings, package_id: int, size: int) -> float:
    """One snapshot by a fresh worker, timed from the trigger to the queue holding all of it; fixtures/s."""
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        with workers(stores, 1, **amqp_environment(settings, QUEUE_LIMIT)):
            started = time.perf_counter()
            client.xadd(COMMANDS_STREAM, fields_of(TriggerSnapshot(package_id=package_id)))
            asyncio.run(_wait_for(settings, package_id, size + 1))
            return size / (time.perf_counter() - started)
    finally:
        client.close()


async def _wait_for(settings: Settings, package_id: int, count: int) -> None:
    """Until the package's queue holds `count` messages (a passive declare a time), then deleted."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    first = settings.amqp_url.split(",")[0].rstrip("/") + "/" + settings.amqp_fixtures_vhost
    async with await aio_pika.connect(first) as connection:
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
    raise RuntimeError(f"{count} messages did not arrive within {SNAPSHOT_TIMEOUT_S} s")


def _failover(
    stores: Backing, cluster: RabbitMQCluster, settings: Settings, package_id: int, size: int
) -> Gap:
    """A snapshot consumed as it is published; the queue's leader killed after KILL_AFTER fixtures, with
    the worker and the customer connected to it; the gap until the customer receives again."""
    leader = asyncio.run(_leader(stores, settings, cluster, package_id))
    on_leader = replace(settings, amqp_url=_leader_first(cluster, leader))
    client: Redis = Redis.from_url(stores.redis_url)
    try:
        with workers(stores, 1, **amqp_environment(on_leader, QUEUE_LIMIT)) as _:
            client.xadd(COMMANDS_STREAM, fields_of(TriggerSnapshot(package_id=package_id)))
            gap = asyncio.run(_consume_killing(on_leader, package_id, size, leader))
            log = (stores.workdir / "worker-0.log").read_text(errors="replace")
    finally:
        client.close()
    cluster.restart(leader)
    return Gap(gap, _worker_moved_s(log))


async def _leader(
    stores: Backing, settings: Settings, cluster: RabbitMQCluster, package_id: int
) -> RabbitMQNode:
    """The node leading the package's Fixtures queue once provisioned, as the management API reports."""
    redis: AsyncRedis = AsyncRedis.from_url(stores.redis_url)
    delivery = AmqpDelivery(settings, redis)
    try:
        await delivery.provision(package_id)
    finally:
        await delivery.close()
        await redis.aclose()
    queue = f"{settings.amqp_fixtures_vhost}/{amqp_queue(package_id)}"
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{cluster.nodes[0].management_url}/api/queues/{queue}")
    return cluster.node(answer.json()["leader"])


def _leader_first(cluster: RabbitMQCluster, leader: RabbitMQNode) -> str:
    return ",".join(node.amqp_url for node in [leader, *(n for n in cluster.nodes if n is not leader)])


async def _consume_killing(settings: Settings, package_id: int, size: int, leader: RabbitMQNode) -> float:
    """The longest silence of the customer's deliveries from just before the kill until the whole snapshot
    arrived: the failover gap, whatever was already on its way when the node died. (The service's own
    account stands for the customer: the bench runs no broker-auth process.)"""
    reader = AmqpQueueReader(settings, package_id, SERVICE_USER, leader.service_password)
    arrivals: list[float] = []
    received, killed_at, loop = 0, 0.0, asyncio.get_running_loop()
    deadline = loop.time() + SNAPSHOT_TIMEOUT_S
    try:
        while received < size + 1 and loop.time() < deadline:
            batch = [body for kind, body in await reader.read(0.05) if kind is QueueKind.FIXTURES]
            if batch:
                arrivals.append(time.monotonic())
            received += len(batch)
            if received >= KILL_AFTER and not killed_at:
                killed_at = time.monotonic()
                await asyncio.to_thread(leader.kill)
    finally:
        await reader.close()
    around = [killed_at - KILL_WINDOW_S] + [t for t in arrivals if t >= killed_at - KILL_WINDOW_S]
    return max(later - earlier for earlier, later in itertools.pairwise(around))


def _worker_moved_s(log: str) -> float:
    """From the worker's log: seconds from its connection's loss to its Fixtures connection on another
    node (its log lines carry milliseconds)."""
    lost = [line for line in log.splitlines() if "closed. Reconnecting" in line and "/Fixtures" in line][-1]
    moved = [line for line in log.splitlines() if "AMQP vhost Fixtures on node" in line][-1]
    return _stamp(moved) - _stamp(lost)


def _stamp(line: str) -> float:
    clock = line.split()[1]  # HH:MM:SS,mmm
    hours, minutes, seconds = clock.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def markdown(fan_outs: list[FanOut], gaps: list[Gap]) -> str:
    single = fan_outs[0].rate
    lines = [
        "| where | fixtures | snapshot fan-out | beside one node, classic |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {f.where} | {f.fixtures:,} | {f.rate:,.0f} msg/s | {f.rate / single:.2f} |" for f in fan_outs
    ]
    seconds = sorted(g.seconds for g in gaps)
    moved = sorted(g.worker_moved_s for g in gaps)
    lines += [
        "",
        f"failover gap over {len(gaps)} kills of the leader: p50 {statistics.median(seconds):.2f} s, "
        f"p99 (the largest here) {seconds[-1]:.2f} s; each: {', '.join(f'{s:.2f} s' for s in seconds)}",
        f"worker on another node after its node's loss: {', '.join(f'{m:.2f} s' for m in moved)}",
        # Three nodes share this machine's cores with whatever else runs: the figures move with it.
        f"load average at the end (1, 5, 15 min): {', '.join(f'{a:.2f}' for a in os.getloadavg())}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.amqp_cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE:,} fixtures, {QUICK_KILLS} kill")
    args = parser.parse_args()
    size, kills = (QUICK_SIZE, QUICK_KILLS) if args.quick else (SIZE, KILLS)
    print(markdown(*run(size, kills)))


if __name__ == "__main__":
    main()
