"""The service delivering over AMQP end to end (SPEC §9): the ingress and a worker with
LIVESCORE_DELIVERY=amqp, a customer consuming as the feed's guide shows, with its own credentials."""

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery import open_delivery
from domain import packages
from domain.fixture_store import store_fixtures
from domain.settings import Settings
from domain.streams import amqp_queue, snapshot_progress
from ingress.app import create_app
from tests.fixture_factory import fixture, incident
from tests.rabbitmq_server import SessionNode
from tests.support import asgi_client, eventually, free_port, hold, publish_incident
from tests.support_amqp import TIMEOUT_S
from worker.app import create_app as create_worker

pytestmark = pytest.mark.usefixtures("broker_auth")

PACKAGE, USERNAME, PASSWORD = 880_001, "amqp-customer@example.com", "amqp-secret"
BODY = {"packageId": PACKAGE, "username": USERNAME, "password": PASSWORD}
API = "/api/livescore"


@pytest.fixture
def delivering(amqp_settings: Settings) -> Settings:
    return dataclasses.replace(amqp_settings, delivery="amqp", claim_idle_ms=1000)


@pytest.fixture
async def customer_package(engine: AsyncEngine, delivering: Settings) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE, USERNAME, PASSWORD)
    yield
    await _delete_queues(delivering)


async def _delete_queues(settings: Settings) -> None:
    for vhost in (settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost):
        async with await aio_pika.connect(settings.amqp_url.rstrip("/") + "/" + vhost) as own:
            channel = await own.channel()
            await channel.queue_delete(amqp_queue(PACKAGE))


async def as_customer(node: SessionNode, vhost: str) -> AbstractConnection:
    """As the feed's guide shows: the vhost, the package's own username and password."""
    return await aio_pika.connect(
        host="127.0.0.1",
        port=node.amqp_port,
        login=USERNAME,
        password=PASSWORD,
        virtualhost=vhost,
        timeout=TIMEOUT_S,
    )


async def consume_snapshot(node: SessionNode) -> list[dict[str, Any]]:
    """Every message up to and including the snapshot's completion, acknowledged as consumed."""
    received: list[dict[str, Any]] = []
    async with await as_customer(node, "Fixtures") as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    received.append(json.loads(message.body))
                if received[-1]["header"]["MessageType"] == 100:
                    return received
    return received


async def post(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await client.post(f"{API}/{path}", json=BODY)


@pytest.mark.usefixtures("customer_package")
async def test_a_customer_receives_a_whole_snapshot_over_amqp_and_deactivation_keeps_the_queue(
    rabbitmq: SessionNode, delivering: Settings, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(i) for i in range(1, 1201)])
    # No worker dies here: a claim idle time shorter than a chunk's publishing on a busy machine would
    # have the worker's own claimer take its snapshot over and repeat a chunk (allowed, but not this test's
    # subject).
    delivering = dataclasses.replace(delivering, claim_idle_ms=30_000)
    app = create_app(delivering)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(delivering, consumer="amqp-worker")):
                activated = await post(client, "package/activate")
                # Provisioned before the answer: the customer finds both queues right away.
                for vhost in ("Fixtures", "Incidents"):
                    async with await as_customer(rabbitmq, vhost) as connection:
                        await (await connection.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
                request_id = (await post(client, "snapshots/trigger")).json()["requestId"]
                received = await asyncio.wait_for(consume_snapshot(rabbitmq), 60)
                status = (await post(client, "package/status")).json()
                assert (await post(client, "package/deactivate")).status_code == 200
    async with await as_customer(rabbitmq, "Fixtures") as connection:
        kept = await (await connection.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
    assert activated.status_code == 200
    fixtures, completion = received[:-1], received[-1]
    assert [m["body"]["fixtureId"] for m in fixtures] == list(range(1, 1201))
    assert {m["header"]["RequestId"] for m in fixtures} == {request_id}
    assert completion["body"] == {"requestId": request_id, "fixtureCount": 1200}
    queue, incidents = status["queue"], status["incidentsQueue"]
    assert (queue["name"], queue["vhost"], queue["lag"]) == (amqp_queue(PACKAGE), "Fixtures", queue["length"])
    assert set(queue) == {"name", "vhost", "length", "pending", "consumers", "lag"}
    assert (incidents["name"], incidents["vhost"]) == (amqp_queue(PACKAGE), "Incidents")
    assert kept.name == amqp_queue(PACKAGE)


@pytest.mark.usefixtures("customer_package")
async def test_nothing_reaches_the_queue_after_a_deactivations_200_while_a_snapshot_is_publishing(
    delivering: Settings, engine: AsyncEngine
) -> None:
    """Issue 22: the status is read before a batch is published, and RabbitMQ cannot check it as it takes
    the messages; the deactivation waits for the batches that read `active` (the fence) before its 200."""
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(i) for i in range(1, 20_001)])
    settings = dataclasses.replace(delivering, claim_idle_ms=30_000)
    app = create_app(settings)
    async with await aio_pika.connect(settings.amqp_url.rstrip("/") + "/Fixtures") as own:
        channel = await own.channel()

        async def length() -> int:
            declared = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
            return int(declared.declaration_result.message_count or 0)

        async def publishing() -> bool:
            return await length() > 0

        async for _ in hold(app.lifespan()):
            async with asgi_client(app) as client:
                # Two workers: one publishes the snapshot while the other applies the deactivation.
                async for _ in hold(create_worker(settings, consumer="amqp-fenced-1")):
                    async for _ in hold(create_worker(settings, consumer="amqp-fenced-2")):
                        assert (await post(client, "package/activate")).status_code == 200
                        assert (await post(client, "snapshots/trigger")).status_code == 200
                        await eventually(publishing, 30)
                        assert (await post(client, "package/deactivate")).status_code == 200
                        at_200 = await length()
                        await asyncio.sleep(2)
                        later = await length()
    assert 0 < at_200 < 20_000
    assert later == at_200


@pytest.mark.usefixtures("customer_package")
async def test_a_full_amqp_queue_deactivates_the_package_with_the_reason_and_no_completion(
    rabbitmq: SessionNode, delivering: Settings, engine: AsyncEngine
) -> None:
    limited = dataclasses.replace(delivering, queue_limit=5)
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(i) for i in range(1, 13)])
    app = create_app(limited)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(limited, consumer="amqp-limited")):
                await post(client, "package/activate")
                await post(client, "snapshots/trigger")

                async def deactivated() -> bool:
                    return bool((await post(client, "package/status")).json()["status"] == "inactive")

                await eventually(deactivated, 30)
                status = (await post(client, "package/status")).json()
    async with await as_customer(rabbitmq, "Fixtures") as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
        bodies = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(json.loads(message.body))
    assert status["reason"] == "queue-limit"
    assert [m["body"]["fixtureId"] for m in bodies] == [1, 2, 3, 4, 5]


@pytest.mark.usefixtures("customer_package")
async def test_a_full_incidents_queue_deactivates_the_package_each_time_it_overflows(
    rabbitmq: SessionNode, delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Issue 20 (3): incidents overflow the Incidents queue — deactivated, reason queue-limit; the customer
    drains it and activates again; heartbeats overflow it — deactivated again."""
    limited = dataclasses.replace(delivering, queue_limit=5, keepalive_s=0, heartbeat_s=0)
    beating = dataclasses.replace(limited, heartbeat_s=0.2)
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(1, status=2)])
    app = create_app(limited)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:

            async def deactivated() -> bool:
                return bool((await post(client, "package/status")).json()["status"] == "inactive")

            async for _ in hold(create_worker(limited, consumer="amqp-incidents-full")):
                await post(client, "package/activate")
                for i in range(1, 11):
                    await publish_incident(redis, incident(i, 1))
                await eventually(deactivated, 30)
                first = (await post(client, "package/status")).json()
            drained = await _drain(rabbitmq, "Incidents")
            async for _ in hold(create_worker(beating, consumer="amqp-heartbeats-full")):
                assert (await post(client, "package/activate")).status_code == 200
                await eventually(deactivated, 30)
                again = (await post(client, "package/status")).json()
    heartbeats = await _drain(rabbitmq, "Incidents")
    assert first["reason"] == again["reason"] == "queue-limit"
    assert [m["body"]["id"] for m in drained] == [1, 2, 3, 4, 5]
    # The second activation's initial image (fixture 1 is in play: SPEC §12) is one of the five; heartbeats
    # go to an active package from its status copy on, so they may come before it.
    assert sorted(m["header"]["MessageType"] for m in heartbeats) == [4] + [32] * 4


async def _keep(message: AbstractIncomingMessage) -> None:
    """A consumer that acknowledges nothing."""


async def _drain(node: SessionNode, vhost: str) -> list[dict[str, Any]]:
    """Every message of the package's queue, taken as its customer takes them."""
    async with await as_customer(node, vhost) as connection:
        queue = await (await connection.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
        taken = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append(json.loads(message.body))
        return taken


@pytest.mark.usefixtures("customer_package")
async def test_status_answers_with_pending_null_while_only_the_management_api_is_unreachable(
    delivering: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20 (11): the queues answer a passive declare; the management API (here a closed port) does
    not. The status says what is known — pending null, consumers from the declare — and the operator
    gets one line, not one per queue or call."""
    unreachable = dataclasses.replace(
        delivering, amqp_management_url=f"http://guest:guest@127.0.0.1:{free_port()}"
    )
    provisioning = open_delivery(unreachable, redis)
    await provisioning.provision(PACKAGE)
    await provisioning.close()
    async with await aio_pika.connect(delivering.amqp_url.rstrip("/") + "/Incidents") as reader:
        queue = await (await reader.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
        await queue.consume(_keep)
        app = create_app(unreachable)
        async for _ in hold(app.lifespan()):
            async with asgi_client(app) as client:
                with caplog.at_level(logging.WARNING, logger="delivery.amqp"):
                    answer = await post(client, "package/status")
    body = answer.json()
    assert answer.status_code == 200
    assert (body["queue"]["pending"], body["incidentsQueue"]["pending"]) == (None, None)
    assert (body["queue"]["consumers"], body["incidentsQueue"]["consumers"]) == (0, 1)
    logged = [r for r in caplog.records if r.name == "delivery.amqp"]
    assert [r.getMessage().split(" (")[0] for r in logged] == [
        "AMQP management API unreachable: status answers pending null"
    ]
    assert "guest" not in logged[0].getMessage()


@pytest.mark.usefixtures("customer_package")
async def test_a_broker_restart_mid_snapshot_loses_nothing_and_sends_one_completion(
    rabbitmq: SessionNode, delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    total = 6000
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(i) for i in range(1, total + 1)])
    app = create_app(delivering)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(delivering, consumer="amqp-restarted")):
                await post(client, "package/activate")
                request_id = (await post(client, "snapshots/trigger")).json()["requestId"]

                async def publishing(progress: str = snapshot_progress(request_id)) -> bool:
                    return bool(await redis.exists(progress))

                await eventually(publishing, 30)
                await asyncio.to_thread(rabbitmq.restart)
                received = await asyncio.wait_for(consume_snapshot(rabbitmq), 120)
    fixtures, completion = received[:-1], received[-1]
    # Repeats are allowed (a chunk in flight at the restart is published again); losses are not.
    assert {m["body"]["fixtureId"] for m in fixtures} == set(range(1, total + 1))
    assert completion["body"] == {"requestId": request_id, "fixtureCount": total}
    async with await as_customer(rabbitmq, "Fixtures") as connection:
        queue = await (await connection.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
        assert queue.declaration_result.message_count == 0
