"""Fixtures for customers on the real broker: the broker-auth app where the session's node asks, packages
whose queues exist on both vhosts, and the service's own account.

The node lives for the session, so every test makes packages of its own ids and usernames (RabbitMQ's
auth cache and queues outlive a test), and removes their queues after it.
"""

import asyncio
import contextlib
import dataclasses
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import aio_pika
import pytest
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.settings import Settings
from domain.streams import amqp_queue
from ingress.broker_auth import create_app
from tests.rabbitmq_server import SessionNode

# Package ids no other test of the session uses: the node's queues and auth cache outlive a test.
_PACKAGE_IDS = itertools.count(random.randrange(10_000_000, 1_000_000_000, 1_000_000))
# A connection, a consume or a refusal takes milliseconds; anything slower has gone wrong.
TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True)
class Customer:
    package_id: int
    username: str
    password: str

    @property
    def queue(self) -> str:
        return amqp_queue(self.package_id)


# The vhosts a customer opens (SPEC §9's defaults).
FIXTURES, INCIDENTS = "Fixtures", "Incidents"


# The `new_customer` fixture: a package added with fresh credentials, as its customer.
NewCustomer = Callable[..., Awaitable[Customer]]


@dataclasses.dataclass(frozen=True)
class Question:
    """What RabbitMQ asked the broker-auth app, the password left out."""

    path: str
    form: dict[str, str]
    answer: str


@pytest.fixture
def amqp_settings(settings: Settings, rabbitmq: SessionNode) -> Settings:
    return rabbitmq.settings(settings)


@pytest.fixture
def serve_broker_auth(rabbitmq: SessionNode) -> Callable[[Settings], Any]:
    """Serves the broker-auth app for these settings where the node asks, while the context lasts."""
    return lambda settings: _serving(settings, rabbitmq.broker_auth_port)


@pytest.fixture
async def broker_auth(
    serve_broker_auth: Callable[[Settings], Any], amqp_settings: Settings
) -> AsyncIterator[list[Question]]:
    """The broker-auth app for the test's storage and Redis; yields the questions RabbitMQ asked it."""
    async with serve_broker_auth(amqp_settings) as questions:
        yield questions


@contextlib.asynccontextmanager
async def _serving(settings: Settings, port: int) -> AsyncIterator[list[Question]]:
    questions: list[Question] = []
    config = uvicorn.Config(
        _recording(create_app(settings), questions),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the broker-auth app stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield questions
    finally:
        server.should_exit = True
        await task


def _recording(app: Any, questions: list[Question]) -> Any:
    """The app, with every question and answer noted (an ASGI wrapper: the app itself is unchanged)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body, answer, more = b"", [], True
        while more:
            event = await receive()
            body, more = body + event.get("body", b""), event.get("more_body", False)

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def noting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b"").decode())
            await send(message)

        await app(scope, replay, noting)
        form = {k: v for k, v in parse_qsl(body.decode()) if k != "password"}
        questions.append(Question(scope["path"], form, "".join(answer)))

    return asgi


@pytest.fixture
async def service(
    amqp_settings: Settings, rabbitmq: SessionNode
) -> AsyncIterator[dict[str, AbstractChannel]]:
    """The service's own account (created by `livescore amqp setup`): a confirming channel per vhost."""
    connections: list[AbstractConnection] = []
    channels: dict[str, AbstractChannel] = {}
    for vhost in (amqp_settings.amqp_fixtures_vhost, amqp_settings.amqp_incidents_vhost):
        connection = await aio_pika.connect(rabbitmq.amqp_url + vhost, timeout=TIMEOUT_S)
        connections.append(connection)
        channels[vhost] = await connection.channel()
    yield channels
    for opened in connections:
        await opened.close()


@pytest.fixture
async def new_customer(
    engine: AsyncEngine, service: dict[str, AbstractChannel], amqp_settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[Customer]]]:
    """Makes a package in storage, and its queue on both vhosts as SPEC §9 declares it (the publishing
    side provisions them in the service; here the test does)."""
    made: list[Customer] = []

    async def make(username: str | None = None, password: str | None = None) -> Customer:
        package_id = next(_PACKAGE_IDS)
        customer = Customer(
            package_id,
            username or f"customer-{package_id}-{uuid.uuid4().hex[:6]}@example.com",
            password or f"password-{uuid.uuid4().hex}",
        )
        async with engine.begin() as conn:
            await packages.add_package(conn, package_id, customer.username, customer.password)
        for channel in service.values():
            await declare(channel, customer.queue, amqp_settings.queue_limit)
        made.append(customer)
        return customer

    yield make
    for customer in made:
        for channel in service.values():
            await channel.queue_delete(customer.queue)


async def declare(channel: AbstractChannel, name: str, limit: int) -> Any:
    arguments: dict[str, Any] = {"x-max-length": limit, "x-overflow": "reject-publish"}
    return await channel.declare_queue(name, durable=True, arguments=arguments)


async def publish(channel: AbstractChannel, queue: str, *bodies: bytes) -> None:
    """As the service publishes (SPEC §9): default exchange, persistent, confirmed."""
    for body in bodies:
        message = aio_pika.Message(
            body,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await channel.default_exchange.publish(message, routing_key=queue)


async def ready_count(channel: AbstractChannel, queue: str) -> int:
    """Messages ready in the queue, asked of the broker now (a passive declare)."""
    declared = await (await channel.get_underlay_channel()).queue_declare(queue, passive=True)
    return int(declared.message_count or 0)
