"""Delivery over a three-node RabbitMQ cluster with quorum queues (SPEC §11): the service and its
customers connect to the first node that answers and move to another when theirs goes away; a node's
loss (SIGKILL) mid-snapshot loses nothing.

One cluster for the module (its start takes 15-30 s here); the test that kills a node comes last.
"""

import asyncio
import dataclasses
import json
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.broker_setup import setup
from delivery.amqp import AmqpDelivery
from delivery.amqp_readers import AmqpQueueReader
from domain.delivery import QueueKind
from domain.settings import Settings
from domain.streams import amqp_queue, snapshot_progress
from ingress.app import create_app
from servers.rabbitmq_cluster import RabbitMQCluster, start_cluster
from servers.rabbitmq_node import RABBITMQ_SERVER, RabbitMQNode
from tests.e2e.processes import Processes, drained, spawning
from tests.fixture_factory import fixture
from tests.sockets import is_loopback, listening_in_group
from tests.support import add_fixtures, add_package, asgi_client, eventually, free_port, hold, server_missing
from tests.support_amqp import serving_broker_auth
from worker.app import create_app as create_worker

pytestmark = [pytest.mark.cluster, pytest.mark.rabbitmq]

API = "/api/livescore"
# Package ids of this module's own: the cluster's queues outlive a test.
LEADERS_FIRST_ID, FULL_ID, FAILOVER_ID, MOVING_ID = 7_700_001, 7_700_100, 7_700_200, 7_700_300
SNAPSHOT_SIZE = 20_000
# Fixtures the customer has received when the leader is killed: well inside the snapshot.
KILL_AFTER = 3_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQCluster]:
    if not RABBITMQ_SERVER.exists():
        server_missing(f"RabbitMQ is not installed (no {RABBITMQ_SERVER}: apt-get install rabbitmq-server)")
    started = start_cluster(tmp_path_factory.mktemp("cluster"), Settings())
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def on_cluster(settings: Settings, cluster: RabbitMQCluster) -> Settings:
    """The test's settings delivering over AMQP to every node of the cluster, with quorum queues."""
    return dataclasses.replace(cluster.settings(settings), delivery="amqp", claim_idle_ms=1000)


@pytest.fixture
async def broker_auth(on_cluster: Settings, cluster: RabbitMQCluster) -> AsyncIterator[None]:
    """The one broker-auth process every node's configuration names."""
    async with serving_broker_auth(on_cluster, cluster.broker_auth_port):
        yield


@pytest.fixture
async def delivery(on_cluster: Settings, redis: Redis) -> AsyncIterator[AmqpDelivery]:
    opened = AmqpDelivery(on_cluster, redis)
    yield opened
    await opened.close()


def test_the_cluster_s_cookie_is_its_owner_s_alone_and_every_node_listens_on_loopback_alone(
    cluster: RabbitMQCluster,
) -> None:
    """With the cookie, anyone reaching a node's distribution port runs commands as the node's user."""
    cookie = cluster.nodes[0].base.parent / "erlang.cookie"
    assert stat.S_IMODE(cookie.stat().st_mode) == 0o400
    for node in cluster.nodes:
        assert stat.S_IMODE((node.base / "home" / ".erlang.cookie").stat().st_mode) == 0o400
        listening = listening_in_group(node.popen.pid)
        assert {node.amqp_port, node.management_port} <= {port for _, port in listening}
        assert [(str(a), port) for a, port in listening if not is_loopback(a)] == []


async def management(cluster: RabbitMQCluster, path: str, method: str = "GET") -> Any:
    """An answer of the management API of the first running node (any node answers for the cluster)."""
    running = next(node for node in cluster.nodes if node.popen.poll() is None)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.request(method, running.management_url + path)
    answer.raise_for_status()
    return answer.json() if answer.content else None


async def queue_info(cluster: RabbitMQCluster, vhost: str, package_id: int) -> dict[str, Any]:
    return dict(await management(cluster, f"/api/queues/{quote(vhost, safe='')}/{amqp_queue(package_id)}"))


def nodes_first(cluster: RabbitMQCluster, first: RabbitMQNode) -> str:
    """The cluster's URL list with `first` at its head."""
    ordered = [first] + [node for node in cluster.nodes if node is not first]
    return ",".join(node.amqp_url for node in ordered)


async def test_the_service_connects_to_the_first_node_that_answers(
    on_cluster: Settings, redis: Redis, cluster: RabbitMQCluster
) -> None:
    nobody = free_port()  # nothing listens there: refused at once
    settings = dataclasses.replace(
        on_cluster,
        amqp_url=f"amqp://livescore-service:{cluster.nodes[0].service_password}@127.0.0.1:{nobody}/,127.0.0.1:"
        + f"{cluster.nodes[1].amqp_port},127.0.0.1:{cluster.nodes[2].amqp_port}",
        amqp_management_url=f"http://guest:guest@127.0.0.1:{nobody},{cluster.nodes[2].management_url}",
    )
    delivery = AmqpDelivery(settings, redis)
    try:
        await delivery.provision(MOVING_ID)
        figures = await delivery.figures(MOVING_ID, QueueKind.FIXTURES)
        on = delivery.nodes()
    finally:
        await delivery.close()
    assert on["Fixtures"] == on["Incidents"] == f"127.0.0.1:{cluster.nodes[1].amqp_port}"
    assert (figures.name, figures.length) == (amqp_queue(MOVING_ID), 0)


async def test_amqp_setup_goes_through_the_first_management_api_that_answers(
    on_cluster: Settings, cluster: RabbitMQCluster
) -> None:
    nobody = free_port()
    settings = dataclasses.replace(
        on_cluster,
        # A new account, so that what this setup made can be told from what the cluster's own made.
        amqp_url=f"amqp://setup-through-node-3:pw@127.0.0.1:{cluster.nodes[0].amqp_port}/",
        amqp_management_url=f"http://guest:guest@127.0.0.1:{nobody},127.0.0.1:{cluster.nodes[2].management_port}",
    )
    account = await asyncio.to_thread(setup, settings)
    users = {user["name"] for user in await management(cluster, "/api/users")}
    assert account.username == "setup-through-node-3"
    assert account.username in users


async def test_a_connection_its_node_closes_moves_to_the_next_node(
    delivery: AmqpDelivery, cluster: RabbitMQCluster
) -> None:
    await delivery.provision(MOVING_ID)
    assert delivery.nodes()["Fixtures"] == f"127.0.0.1:{cluster.nodes[0].amqp_port}"
    service: list[dict[str, Any]] = []

    async def listed() -> bool:  # the management API lists a connection within a second or so
        connections = await management(cluster, "/api/connections")
        service[:] = [c for c in connections if (c["user"], c["vhost"]) == ("livescore-service", "Fixtures")]
        return bool(service)

    await eventually(listed, 10, "the service's connection listed")
    for connection in service:
        await management(cluster, f"/api/connections/{quote(connection['name'], safe='')}", "DELETE")

    async def moved() -> bool:
        await delivery.provision(MOVING_ID)
        return delivery.nodes().get("Fixtures") == f"127.0.0.1:{cluster.nodes[1].amqp_port}"

    await eventually(moved, 10, "the Fixtures connection on the second node")


async def test_package_queues_are_quorum_queues_with_their_leaders_spread_over_the_nodes(
    delivery: AmqpDelivery, cluster: RabbitMQCluster, on_cluster: Settings
) -> None:
    package_ids = range(LEADERS_FIRST_ID, LEADERS_FIRST_ID + 6)
    for package_id in package_ids:
        await delivery.provision(package_id)
    queues = [await queue_info(cluster, "Fixtures", package_id) for package_id in package_ids]
    assert {queue["type"] for queue in queues} == {"quorum"}
    assert queues[0]["arguments"] == {
        "x-max-length": on_cluster.queue_limit,
        "x-overflow": "reject-publish",
        "x-queue-leader-locator": "balanced",
        "x-queue-type": "quorum",
    }
    assert {queue["leader"] for queue in queues} == {node.name for node in cluster.nodes}
    assert all(len(queue["members"]) == len(cluster.nodes) for queue in queues)


@pytest.mark.usefixtures("broker_auth")
async def test_a_full_quorum_queue_refuses_and_the_package_is_deactivated_with_the_reason(
    on_cluster: Settings, engine: AsyncEngine, cluster: RabbitMQCluster
) -> None:
    limited = dataclasses.replace(on_cluster, queue_limit=5)
    body = await add_package(engine, FULL_ID)
    await add_fixtures(engine, [fixture(i) for i in range(1, 13)])
    app = create_app(limited)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(limited, consumer="cluster-limited")):
                assert (await client.post(f"{API}/package/activate", json=body)).status_code == 200
                await client.post(f"{API}/snapshots/trigger", json=body)

                async def deactivated() -> bool:
                    answer = await client.post(f"{API}/package/status", json=body)
                    return bool(answer.json()["status"] == "inactive")

                await eventually(deactivated, 30, "the package deactivated")
                status = (await client.post(f"{API}/package/status", json=body)).json()
    held = await _taken(limited, body, cluster.nodes[0])
    assert status["reason"] == "queue-limit"
    # RabbitMQ 3.10's quorum queues apply the limit once they have gone past it: one more message, or
    # however many were in flight then (here, up to the snapshot's one chunk of 12), is taken, then
    # everything is refused — the completion included. A classic queue refuses the sixth message exactly
    # (test_delivery.py).
    taken = [m["body"]["fixtureId"] for m in held]
    assert taken == list(range(1, len(taken) + 1))
    assert 6 <= len(taken) <= 12
    assert {m["header"]["MessageType"] for m in held} == {1}


async def _taken(settings: Settings, body: dict[str, Any], node: RabbitMQNode) -> list[dict[str, Any]]:
    """Every message of the package's fixtures queue, taken as its customer takes them."""
    connection = await aio_pika.connect(
        host="127.0.0.1",
        port=node.amqp_port,
        login=body["username"],
        password=body["password"],
        virtualhost=settings.amqp_fixtures_vhost,
    )
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(body["packageId"]), passive=True)
        taken = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append(json.loads(message.body))
    return taken


@pytest.fixture
def processes(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Processes]:
    with spawning(redis_url, database_url, tmp_path) as spawner:
        yield spawner


@pytest.mark.usefixtures("broker_auth")
async def test_killing_the_leader_mid_snapshot_loses_no_fixture_and_no_command(
    on_cluster: Settings,
    engine: AsyncEngine,
    redis: Redis,
    delivery: AmqpDelivery,
    cluster: RabbitMQCluster,
    processes: Processes,
) -> None:
    body = await add_package(engine, FAILOVER_ID)
    await add_fixtures(engine, [fixture(i) for i in range(1, SNAPSHOT_SIZE + 1)])
    # The queue provisioned first, to learn its leader: the worker and the customer are then put on that
    # node, so its loss takes their connections too, not only the queue's leader.
    await delivery.provision(FAILOVER_ID)
    leader = cluster.node((await queue_info(cluster, "Fixtures", FAILOVER_ID))["leader"])
    settings = dataclasses.replace(on_cluster, amqp_url=nodes_first(cluster, leader))
    await processes.worker(**_environment(settings))
    customer = AmqpQueueReader(settings, FAILOVER_ID, body["username"], body["password"])
    app = create_app(settings)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            assert (await client.post(f"{API}/package/activate", json=body)).status_code == 200
            request_id = (await client.post(f"{API}/snapshots/trigger", json=body)).json()["requestId"]
            received, killed_mid_snapshot = await _consume_killing(customer, redis, request_id, leader)
            deactivated = await client.post(f"{API}/package/deactivate", json=body)
            status = (await client.post(f"{API}/package/status", json=body)).json()
            ready = (await client.get("/ready")).json()
    await customer.close()
    fixtures = [m for m in received if m["header"]["MessageType"] == 1]
    completions = [m for m in received if m["header"]["MessageType"] == 100]
    assert killed_mid_snapshot
    # Repeats are allowed (what was in flight at the kill is published or delivered again); losses not.
    assert {m["body"]["fixtureId"] for m in fixtures} == set(range(1, SNAPSHOT_SIZE + 1))
    assert [m["body"] for m in completions] == [{"requestId": request_id, "fixtureCount": SNAPSHOT_SIZE}]
    assert (deactivated.status_code, status["status"]) == (200, "inactive")
    assert await drained(redis)
    # The ingress too left the dead node (its status call above reconnected it), and /ready says where.
    assert ready["deliveryNodes"]["Fixtures"] != f"127.0.0.1:{leader.amqp_port}"


def _environment(settings: Settings) -> dict[str, str]:
    return {
        "LIVESCORE_DELIVERY": "amqp",
        "LIVESCORE_AMQP_URL": settings.amqp_url,
        "LIVESCORE_AMQP_MANAGEMENT_URL": settings.amqp_management_url,
        "LIVESCORE_AMQP_QUEUE_TYPE": "quorum",
        "LIVESCORE_CLAIM_IDLE_MS": "1000",
    }


async def _consume_killing(
    customer: AmqpQueueReader, redis: Redis, request_id: str, leader: RabbitMQNode
) -> tuple[list[dict[str, Any]], bool]:
    """What the customer reads until the snapshot's completion and a second after it; the leader killed
    once KILL_AFTER fixtures arrived. Also whether the snapshot was still being published then."""
    received: list[dict[str, Any]] = []
    killed_mid_snapshot, loop = False, asyncio.get_running_loop()
    deadline = loop.time() + 120
    while loop.time() < deadline:
        batch = await customer.read(1.0)
        received += [json.loads(body) for kind, body in batch if kind is QueueKind.FIXTURES]
        if len(received) >= KILL_AFTER and leader.popen.poll() is None:
            killed_mid_snapshot = bool(await redis.exists(snapshot_progress(request_id)))
            await asyncio.to_thread(leader.kill)
        if not batch and any(m["header"]["MessageType"] == 100 for m in received):
            return received, killed_mid_snapshot
    raise AssertionError(f"no completion within 120 s; {len(received)} messages")
