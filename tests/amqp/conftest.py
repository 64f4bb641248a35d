"""Fixtures for customers on the real broker: the broker-auth app where the session's node asks, packages
whose queues exist on both vhosts, and the service's own account.

The node lives for the session, so every test makes packages of its own ids and usernames (RabbitMQ's
auth cache and queues outlive a test), and removes their queues after it.
"""

import itertools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.settings import Settings
from tests.rabbitmq_server import SessionNode
from tests.support_amqp import TIMEOUT_S, Customer, Question, declare, serving_broker_auth

# Package ids no other test of the session uses: the node's queues and auth cache outlive a test.
_PACKAGE_IDS = itertools.count(random.randrange(10_000_000, 1_000_000_000, 1_000_000))


@pytest.fixture
def amqp_settings(settings: Settings, rabbitmq: SessionNode) -> Settings:
    return rabbitmq.settings(settings)


@pytest.fixture
def serve_broker_auth(rabbitmq: SessionNode) -> Callable[[Settings], Any]:
    """Serves the broker-auth app for these settings where the node asks, while the context lasts."""
    return lambda settings: serving_broker_auth(settings, rabbitmq.broker_auth_port)


@pytest.fixture
async def broker_auth(
    serve_broker_auth: Callable[[Settings], Any], amqp_settings: Settings
) -> AsyncIterator[list[Question]]:
    """The broker-auth app for the test's storage and Redis; yields the questions RabbitMQ asked it."""
    async with serve_broker_auth(amqp_settings) as questions:
        yield questions


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
