"""Customers on a real RabbitMQ node log in with their packages' credentials, checked by the broker-auth
app, and may read their own queues and nothing else (SPEC §9)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq.exceptions
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection
from typer.testing import CliRunner

from cli.main import app as livescore
from domain.settings import Settings
from tests.rabbitmq_server import SessionNode
from tests.support_amqp import (
    FIXTURES,
    INCIDENTS,
    TIMEOUT_S,
    Customer,
    NewCustomer,
    Question,
    declare,
    publish,
    ready_count,
)

pytestmark = pytest.mark.usefixtures("broker_auth")

# SPEC §9: after `package set-password` the old password opens no new connection within this.
PASSWORD_CHANGE_BITES_S = 60


async def connect(
    node: SessionNode, customer: Customer, vhost: str, *, password: str | None = None, tls: bool = False
) -> AbstractConnection:
    """As the feed's guide shows a customer connecting: the vhost, the package's username and password;
    AMQPS on the TLS port when `tls`."""
    return await aio_pika.connect(
        host="127.0.0.1",
        port=node.amqps_port if tls else node.amqp_port,
        login=customer.username,
        password=customer.password if password is None else password,
        virtualhost=vhost,
        ssl=tls,
        ssl_context=node.client_tls() if tls else None,
        timeout=TIMEOUT_S,
    )


async def consume(channel: AbstractChannel, queue_name: str, count: int) -> list[bytes]:
    """As the guide's consumer does: the queue declared passively, consumed, every message acknowledged."""
    queue = await channel.declare_queue(queue_name, passive=True)
    bodies: list[bytes] = []
    async with queue.iterator() as messages:
        async for message in messages:
            async with message.process():
                bodies.append(message.body)
            if len(bodies) == count:
                break
    return bodies


async def read(
    node: SessionNode, customer: Customer, vhost: str, queue: str, count: int, **kw: Any
) -> list[bytes]:
    connection = await connect(node, customer, vhost, **kw)
    async with connection:
        return await asyncio.wait_for(consume(await connection.channel(), queue, count), TIMEOUT_S)


async def refused_on_channel(
    node: SessionNode, customer: Customer, vhost: str, act: Callable[[AbstractChannel], Awaitable[Any]]
) -> None:
    """The login is accepted, and `act` is refused with ACCESS_REFUSED."""
    connection = await connect(node, customer, vhost)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await asyncio.wait_for(act(channel), TIMEOUT_S)


@pytest.mark.parametrize("vhost", [FIXTURES, INCIDENTS])
async def test_a_customer_consumes_what_the_service_published_to_its_queue(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel], vhost: str
) -> None:
    customer = await new_customer()
    await publish(service[vhost], customer.queue, b'{"n": 1}', b'{"n": 2}', b'{"n": 3}')
    assert await read(rabbitmq, customer, vhost, customer.queue, 3) == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    assert await ready_count(service[vhost], customer.queue) == 0  # acknowledged, so gone


async def test_a_customer_consumes_over_tls_with_a_certificate_made_for_the_test(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    customer = await new_customer()
    await publish(service[FIXTURES], customer.queue, b'{"over": "tls"}')
    assert await read(rabbitmq, customer, FIXTURES, customer.queue, 1, tls=True) == [b'{"over": "tls"}']


async def test_the_login_tags_reach_the_vhost_and_resource_questions(
    rabbitmq: SessionNode,
    new_customer: NewCustomer,
    service: dict[str, AbstractChannel],
    broker_auth: list[Question],
) -> None:
    """What the design rests on: RabbitMQ sends the user path's tags back with every later question."""
    customer = await new_customer()
    await publish(service[FIXTURES], customer.queue, b"{}")
    await read(rabbitmq, customer, FIXTURES, customer.queue, 1)
    tag = f"livescore-package-{customer.package_id}"
    asked = {q.path: q for q in broker_auth if q.form.get("username") == customer.username}
    assert asked["/auth/user"].answer == f"allow {tag}"
    assert asked["/auth/vhost"].form["tags"] == tag
    assert asked["/auth/resource"].form["tags"] == tag
    assert asked["/auth/resource"].form | {"tags": ""} == {
        "username": customer.username,
        "vhost": FIXTURES,
        "resource": "queue",
        "name": customer.queue,
        "permission": "read",
        "tags": "",
    }


async def test_a_wrong_password_is_refused_when_the_connection_opens_its_vhost(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question]
) -> None:
    """Where the broker names the client's address, so the login is decided per address (docs/SECURITY.md);
    RabbitMQ answers connection.open with a close (530 NOT_ALLOWED), which aiormq reports as a frame it
    did not expect."""
    customer = await new_customer()
    with pytest.raises(aiormq.exceptions.AMQPError):
        await connect(rabbitmq, customer, FIXTURES, password="wrong")
    asked = [(q.path, q.answer) for q in broker_auth if q.form.get("username") == customer.username]
    assert asked == [("/auth/user", "allow"), ("/auth/vhost", "deny")]


async def test_a_vhost_other_than_the_feeds_is_refused(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question]
) -> None:
    customer = await new_customer()
    # aiormq reports the broker's connection.close in answer to connection.open as a frame it did not
    # expect.
    with pytest.raises(aiormq.exceptions.AMQPError):
        await connect(rabbitmq, customer, "/")
    assert [(q.form["vhost"], q.answer) for q in broker_auth if q.path == "/auth/vhost"] == [("/", "deny")]


async def test_another_packages_queue_is_refused_to_valid_credentials(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    owner, other = await new_customer(), await new_customer()
    await publish(service[FIXTURES], owner.queue, b"{}")
    await refused_on_channel(rabbitmq, other, FIXTURES, lambda ch: consume(ch, owner.queue, 1))
    await publish(service[INCIDENTS], owner.queue, b"{}")

    async def get(channel: AbstractChannel) -> None:
        queue = await channel.declare_queue(owner.queue, passive=True)
        await queue.get(timeout=TIMEOUT_S)

    await refused_on_channel(rabbitmq, other, INCIDENTS, get)


async def test_publishing_is_refused(rabbitmq: SessionNode, new_customer: NewCustomer) -> None:
    customer = await new_customer()

    async def publish_to_own_queue(channel: AbstractChannel) -> None:
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=customer.queue)

    async def publish_to_a_topic(channel: AbstractChannel) -> None:
        exchange = await channel.get_exchange("amq.topic", ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="fixtures.#")

    await refused_on_channel(rabbitmq, customer, FIXTURES, publish_to_own_queue)
    await refused_on_channel(rabbitmq, customer, INCIDENTS, publish_to_a_topic)


async def test_declaring_a_new_queue_is_refused(rabbitmq: SessionNode, new_customer: NewCustomer) -> None:
    customer = await new_customer()
    await refused_on_channel(
        rabbitmq, customer, FIXTURES, lambda ch: ch.declare_queue(f"_{customer.package_id}_2")
    )
    await refused_on_channel(rabbitmq, customer, FIXTURES, lambda ch: ch.declare_queue(exclusive=True))
    await refused_on_channel(
        rabbitmq, customer, FIXTURES, lambda ch: declare(ch, customer.queue, 10)
    )  # its own, not passive: declaring asks `configure`


async def test_deleting_or_binding_its_queue_is_refused_and_the_queue_stays(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    customer = await new_customer()
    await publish(service[FIXTURES], customer.queue, b"{}")
    await refused_on_channel(rabbitmq, customer, FIXTURES, lambda ch: ch.queue_delete(customer.queue))

    async def bind(channel: AbstractChannel) -> None:
        queue = await channel.declare_queue(customer.queue, passive=True)
        await queue.bind("amq.topic", routing_key="#")

    await refused_on_channel(rabbitmq, customer, FIXTURES, bind)
    assert await ready_count(service[FIXTURES], customer.queue) == 1


async def test_a_queue_named_otherwise_is_refused(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    customer = await new_customer()
    lookalike = f"_{customer.package_id}_copy"
    await declare(service[FIXTURES], lookalike, 10)
    try:
        await refused_on_channel(rabbitmq, customer, FIXTURES, lambda ch: consume(ch, lookalike, 1))
    finally:
        await service[FIXTURES].queue_delete(lookalike)


async def test_get_reject_and_purge_of_its_own_queue_are_allowed(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    customer = await new_customer()
    await publish(service[INCIDENTS], customer.queue, b"one", b"two")
    connection = await connect(rabbitmq, customer, INCIDENTS)
    async with connection:
        queue = await (await connection.channel()).declare_queue(customer.queue, passive=True)
        first = await queue.get(timeout=TIMEOUT_S)
        await first.reject(requeue=True)
        again = await queue.get(timeout=TIMEOUT_S)
        assert again.redelivered
        await again.nack(requeue=True)
        await queue.purge()
    assert await ready_count(service[INCIDENTS], customer.queue) == 0


async def test_a_username_shared_by_two_packages_with_one_password_reads_both(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    first = await new_customer()
    second = await new_customer(username=first.username, password=first.password)
    await publish(service[FIXTURES], first.queue, b"first")
    await publish(service[FIXTURES], second.queue, b"second")
    connection = await connect(rabbitmq, first, FIXTURES)
    async with connection:
        channel = await connection.channel()
        assert await asyncio.wait_for(consume(channel, first.queue, 1), TIMEOUT_S) == [b"first"]
        assert await asyncio.wait_for(consume(channel, second.queue, 1), TIMEOUT_S) == [b"second"]


async def test_a_username_shared_with_different_passwords_reads_only_the_package_of_each_password(
    rabbitmq: SessionNode, new_customer: NewCustomer, service: dict[str, AbstractChannel]
) -> None:
    first = await new_customer()
    second = await new_customer(username=first.username, password="the-other-password")
    await publish(service[FIXTURES], first.queue, b"first")
    await publish(service[FIXTURES], second.queue, b"second")
    assert await read(rabbitmq, second, FIXTURES, second.queue, 1) == [b"second"]
    await refused_on_channel(rabbitmq, second, FIXTURES, lambda ch: consume(ch, first.queue, 1))
    await refused_on_channel(rabbitmq, first, FIXTURES, lambda ch: consume(ch, second.queue, 1))
    assert await read(rabbitmq, first, FIXTURES, first.queue, 1) == [b"first"]


async def test_a_username_that_looks_like_form_fields_proves_only_its_own_package(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question]
) -> None:
    victim = await new_customer()
    crafted = f"mallory&tags=livescore-package-{victim.package_id}&vhost=Fixtures"
    mallory = await new_customer(username=crafted)
    await refused_on_channel(rabbitmq, mallory, FIXTURES, lambda ch: consume(ch, victim.queue, 1))
    assert {q.form["username"] for q in broker_auth if q.path == "/auth/resource"} == {crafted}


async def test_a_password_change_locks_the_old_password_out_of_new_connections(
    rabbitmq: SessionNode, new_customer: NewCustomer, amqp_settings: Settings
) -> None:
    customer = await new_customer()
    await (await connect(rabbitmq, customer, FIXTURES)).close()  # the old password is in the broker's cache
    changed = await asyncio.to_thread(
        CliRunner().invoke,
        livescore,
        ["package", "set-password", "--id", str(customer.package_id), "--password", "brand-new"],
        obj=amqp_settings,
    )
    assert changed.exit_code == 0, changed.output
    started = time.monotonic()
    while time.monotonic() - started < PASSWORD_CHANGE_BITES_S:
        try:
            await (await connect(rabbitmq, customer, FIXTURES)).close()
        except aiormq.exceptions.AMQPError:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the old password still opened connections after {PASSWORD_CHANGE_BITES_S} s")
    await (await connect(rabbitmq, customer, FIXTURES, password="brand-new")).close()
