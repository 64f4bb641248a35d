"""Customers on the real broker as the tests see them: a package's credentials and queue, the vhosts, what
RabbitMQ asked the broker-auth app, and publishing and counting as the service does (SPEC §9).

Fixtures are in tests/amqp/conftest.py; the session's node in tests/rabbitmq_server.py.
"""

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import aio_pika
import uvicorn
from aio_pika.abc import AbstractChannel

from domain.settings import Settings
from domain.streams import amqp_queue
from ingress.broker_auth import create_app

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


@contextlib.asynccontextmanager
async def serving_broker_auth(settings: Settings, port: int) -> AsyncIterator[list[Question]]:
    """The broker-auth app for these settings, served on 127.0.0.1:`port` while the context lasts; the
    questions RabbitMQ asked it."""
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
