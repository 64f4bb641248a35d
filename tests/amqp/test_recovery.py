"""The initial image and recovery over AMQP (SPEC §9, §12): the customer consuming the Incidents queue with
its own credentials gets the scoreboards before activation's 200, then a recovery's incidents since
`after` (marked, with AMQP headers), the scoreboards and the completion."""

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.settings import Settings
from domain.streams import amqp_queue
from ingress.app import create_app
from tests.rabbitmq_server import SessionNode
from tests.support import asgi_client, eventually, hold, kept_history
from tests.support_amqp import TIMEOUT_S
from worker.app import create_app as create_worker

pytestmark = pytest.mark.usefixtures("broker_auth")

PACKAGE, USERNAME, PASSWORD = 880_101, "amqp-recovery@example.com", "amqp-recovery-secret"
BODY = {"packageId": PACKAGE, "username": USERNAME, "password": PASSWORD}
API = "/api/livescore"


@pytest.fixture
def delivering(amqp_settings: Settings) -> Settings:
    return dataclasses.replace(amqp_settings, delivery="amqp")


@pytest.fixture
async def football_package(engine: AsyncEngine, delivering: Settings) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE, USERNAME, PASSWORD, sports=[6046])
    yield
    for vhost in (delivering.amqp_fixtures_vhost, delivering.amqp_incidents_vhost):
        async with await aio_pika.connect(delivering.amqp_url.rstrip("/") + "/" + vhost) as own:
            await (await own.channel()).queue_delete(amqp_queue(PACKAGE))


async def _taken(node: SessionNode, received: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Whatever the package's Incidents queue holds now, taken as its customer takes it."""
    async with await aio_pika.connect(
        host="127.0.0.1",
        port=node.amqp_port,
        login=USERNAME,
        password=PASSWORD,
        virtualhost="Incidents",
        timeout=TIMEOUT_S,
    ) as connection:
        queue = await (await connection.channel()).declare_queue(amqp_queue(PACKAGE), passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            received.append((json.loads(message.body), dict(message.headers)))


@pytest.mark.usefixtures("football_package")
async def test_over_amqp_the_image_comes_before_the_200_and_a_recovery_ends_with_its_completion(
    rabbitmq: SessionNode, delivering: Settings, engine: AsyncEngine
) -> None:
    await kept_history(engine)
    after = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    received: list[tuple[dict[str, Any], dict[str, Any]]] = []
    app = create_app(delivering)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(delivering, consumer="amqp-recovery")):
                assert (await client.post(f"{API}/package/activate", json=BODY)).status_code == 200
                await _taken(rabbitmq, received)
                image = list(received)
                response = await client.post(f"{API}/recovery/trigger", json={**BODY, "after": after})
                request_id = response.json()["requestId"]

                async def complete() -> bool:
                    await _taken(rabbitmq, received)
                    return any(body["header"]["MessageType"] == 101 for body, _ in received)

                await eventually(complete, 30, "the recovery's completion")
    assert sorted((b["header"]["MessageType"], b["header"]["FixtureId"]) for b, _ in image) == [
        (4, 1),
        (4, 18),
    ]
    recovery = received[len(image) :]
    *sent, (last, last_headers) = recovery
    assert last["body"] == {"requestId": request_id, "fixtureCount": 2, "incidentCount": 4}
    assert last_headers["MessageType"] == 101
    for fixture_id in (1, 18):
        mine = [(b, h) for b, h in sent if b["header"]["FixtureId"] == fixture_id]
        assert [b["body"].get("id") for b, _ in mine] == [100 * fixture_id + 2, 100 * fixture_id + 3, None]
        assert [b["header"].get("Recovered") for b, _ in mine] == [True, True, None]
        assert [h.get("Recovered") for _, h in mine] == [True, True, None]
        assert {h["RequestId"] for _, h in mine} == {request_id}
        assert {h["FixtureId"] for _, h in mine} == {fixture_id}
