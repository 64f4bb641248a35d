"""The delivery contract, once, for both brokers (STYLE: one behaviour suite, two adapters): order,
confirmation before the call returns, nothing to an inactive package, queue full → refusal and one
deactivation per activation, a message sent once, and the backlog figure — against a real Redis and a
real RabbitMQ."""

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import msgspec
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery import open_delivery
from delivery.redis_streams import queue_name as stream_name
from domain.commands import StreamId
from domain.delivery import Delivery, Parcel, PublishResult, QueueKind
from domain.messages import (
    MessageType,
    Outgoing,
    completion,
    envelopes,
    fixture_headers,
    heartbeat,
    incident_message,
)
from domain.package_status import PackageStatus
from domain.package_view import PackageView
from domain.packages import PackageState
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, INCIDENTS_STREAM, amqp_queue
from tests.fixture_factory import fixture
from tests.rabbitmq_server import SessionNode
from tests.support import add_fixtures, add_package, eventually, hold
from worker.app import create_app as create_worker

PACKAGE = 4711
# Small, so that a test fills a queue with a handful of messages.
LIMIT = 5

Reader = Callable[[int, QueueKind], Awaitable[list[Any]]]


@pytest.fixture(params=["redis", "amqp"])
async def broker(
    request: pytest.FixtureRequest, settings: Settings, redis: Redis
) -> AsyncIterator[tuple[Delivery, Reader, Settings]]:
    """A delivery of each kind, and a way to read (and take) what reached a package's queue."""
    configured = dataclasses.replace(settings, queue_limit=LIMIT)
    if request.param == "amqp":
        node: SessionNode = request.getfixturevalue("rabbitmq")
        configured = dataclasses.replace(node.settings(configured), delivery="amqp")
    delivery = open_delivery(configured, redis)
    amqp = request.param == "amqp"
    try:
        yield delivery, _reader(configured, redis, amqp), configured
    finally:
        if amqp:
            await _delete_queues(configured)
        await delivery.close()


def _reader(settings: Settings, redis: Redis, amqp: bool) -> Reader:
    async def from_stream(package_id: int, kind: QueueKind) -> list[Any]:
        entries: Any = await redis.xrange(stream_name(kind, package_id))
        return [fields[b"message"] for _, fields in entries]

    async def from_queue(package_id: int, kind: QueueKind) -> list[Any]:
        vhost = settings.amqp_fixtures_vhost if kind is QueueKind.FIXTURES else settings.amqp_incidents_vhost
        url = settings.amqp_url.rstrip("/") + "/" + vhost
        async with await aio_pika.connect(url) as own:
            channel = await own.channel()
            queue = await channel.get_queue(amqp_queue(package_id), ensure=True)
            taken = []
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append(message)
            return taken

    return from_queue if amqp else from_stream


async def _delete_queues(settings: Settings) -> None:
    """The queues of this test's package, in both vhosts, so that the next test starts empty."""
    base = settings.amqp_url.rstrip("/")
    for vhost in (settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost):
        async with await aio_pika.connect(f"{base}/{vhost}") as own:
            channel = await own.channel()
            await channel.queue_delete(amqp_queue(PACKAGE))


FIRST_COMMAND = StreamId(1, 0)


async def _set_status(redis: Redis, status: PackageStatus, applied: StreamId = FIRST_COMMAND) -> None:
    """The package's status copy, as the worker leaves it after applying the command `applied`."""
    await PackageView(redis).remember(PACKAGE, PackageState(status, applied))


async def _deactivations(redis: Redis) -> list[tuple[bytes, bytes, bytes]]:
    commands: Any = await redis.xrange(COMMANDS_STREAM)
    return [(f[b"type"], f[b"packageId"], f[b"reason"]) for _, f in commands]


async def _drain(settings: Settings, redis: Redis, read: Reader, kind: QueueKind) -> list[Any]:
    """The customer consumes every message of the queue: over AMQP, takes them; from a Redis stream,
    reads them through its consumer group (the stream keeps them, the backlog is the group's)."""
    if settings.delivery == "amqp":
        return await read(PACKAGE, kind)
    stream = stream_name(kind, PACKAGE)
    await redis.xgroup_create(stream, "customer", id="0")
    reply: Any = await redis.xreadgroup("customer", "c1", {stream: ">"})
    return [fields for _, entries in reply for _, fields in entries]


def _refused(kind: QueueKind) -> float:
    return REGISTRY.get_sample_value("livescore_messages_refused_total", {"queue": kind.value}) or 0.0


def _incidents(count: int) -> list[Outgoing]:
    return [incident_message(b'{"id": %d, "fixtureId": 1}' % i, 1, 6046, 1001) for i in range(count)]


def _fixture_messages(count: int, request_id: str | None = None) -> list[Outgoing]:
    bodies = [b'{"fixtureId": %d}' % i for i in range(1, count + 1)]
    headers = [fixture_headers(i, 6046, 1001) for i in range(1, count + 1)]
    return envelopes(MessageType.FIXTURE, bodies, request_id, headers)


def _body(message: Any) -> bytes:
    return bytes(message.body if hasattr(message, "body") else message)


async def test_messages_arrive_in_order_once_publish_returns(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    delivery, read, _ = broker
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    sent = _fixture_messages(4)
    (published,) = await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, sent)])
    # Returned: the broker confirmed every message, so each is there to read now.
    received = await read(PACKAGE, QueueKind.FIXTURES)
    assert (published.result, published.count) == (PublishResult.OK, 4)
    assert [_body(m) for m in received] == [m.body for m in sent]


async def test_a_package_made_active_elsewhere_gets_its_queue_with_its_first_message(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    """Active in storage without this process having provisioned it (a restored database): nothing is
    dropped for want of a queue."""
    delivery, read, _ = broker
    await _set_status(redis, PackageStatus.ACTIVE)
    sent = _fixture_messages(2)
    (published,) = await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, sent)])
    assert (published.result, published.count) == (PublishResult.OK, 2)
    assert [_body(m) for m in await read(PACKAGE, QueueKind.FIXTURES)] == [m.body for m in sent]


async def test_nothing_is_published_to_an_inactive_package(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    delivery, read, _ = broker
    await delivery.provision(PACKAGE)
    await _set_status(redis, PackageStatus.INACTIVE)
    (published,) = await delivery.publish([Parcel(PACKAGE, QueueKind.INCIDENTS, _fixture_messages(2))])
    assert (published.result, published.count) == (PublishResult.INACTIVE, 0)
    assert await read(PACKAGE, QueueKind.INCIDENTS) == []


async def test_a_full_queue_takes_nothing_more_and_the_package_is_deactivated_once(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    delivery, read, _ = broker
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    (first,) = await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, _fixture_messages(LIMIT + 3))])
    (again,) = await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, _fixture_messages(1))])
    assert (first.result, first.count) == (PublishResult.FULL, LIMIT)
    assert (again.result, again.count) == (PublishResult.FULL, 0)
    assert len(await read(PACKAGE, QueueKind.FIXTURES)) == LIMIT
    assert await _deactivations(redis) == [(b"deactivate", str(PACKAGE).encode(), b"queue-limit")]


async def test_an_overflow_after_the_package_was_activated_again_deactivates_it_again(
    broker: tuple[Delivery, Reader, Settings], redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Incidents overflow the incidents queue: deactivated. The customer drains it and activates again;
    a heartbeat that does not fit deactivates it again — each time with one log line, every refused
    message counted under its queue's kind."""
    delivery, read, configured = broker
    deactivation = (b"deactivate", str(PACKAGE).encode(), b"queue-limit")
    refused_before = _refused(QueueKind.INCIDENTS)
    await _set_status(redis, PackageStatus.ACTIVE, StreamId(1, 0))
    await delivery.provision(PACKAGE)
    with caplog.at_level(logging.WARNING, logger="domain.queue_limit"):
        (first,) = await delivery.publish([Parcel(PACKAGE, QueueKind.INCIDENTS, _incidents(LIMIT + 2))])
        after_first = await _deactivations(redis)
        await _set_status(redis, PackageStatus.INACTIVE, StreamId(2, 0))  # the worker applied it
        assert len(await _drain(configured, redis, read, QueueKind.INCIDENTS)) == LIMIT
        await _set_status(redis, PackageStatus.ACTIVE, StreamId(3, 0))  # and activates again
        (fits,) = await delivery.publish([Parcel(PACKAGE, QueueKind.INCIDENTS, _incidents(LIMIT))])
        (beat,) = await delivery.publish([Parcel(PACKAGE, QueueKind.INCIDENTS, [heartbeat()])])
    assert (first.result, first.count) == (PublishResult.FULL, LIMIT)
    assert after_first == [deactivation]
    assert (fits.result, beat.result, beat.count) == (PublishResult.OK, PublishResult.FULL, 0)
    assert await _deactivations(redis) == [deactivation, deactivation]
    assert _refused(QueueKind.INCIDENTS) - refused_before == 3
    logged = [r.getMessage() for r in caplog.records if r.name == "domain.queue_limit"]
    assert len(logged) == 2
    assert all(f"package {PACKAGE}" in line and "incidents queue is full" in line for line in logged)


async def test_a_message_sent_once_does_not_pass_a_full_queue_either(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    """A snapshot's completion after its fixtures filled the queue: refused, and the package deactivated."""
    delivery, read, _ = broker
    refused_before = _refused(QueueKind.FIXTURES)
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, _fixture_messages(LIMIT))])
    done = Parcel(PACKAGE, QueueKind.FIXTURES, [completion("r-1", LIMIT)], once="test:done:full")
    (published,) = await delivery.publish([done])
    assert (published.result, published.count) == (PublishResult.FULL, 0)
    assert await _deactivations(redis) == [(b"deactivate", str(PACKAGE).encode(), b"queue-limit")]
    assert len(await read(PACKAGE, QueueKind.FIXTURES)) == LIMIT
    assert _refused(QueueKind.FIXTURES) - refused_before == 1


async def test_a_parcel_whose_name_was_used_is_not_published_again(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    delivery, read, _ = broker
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    completion = _fixture_messages(1)
    for _ in range(2):
        await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, completion, once="test:done:1")])
    assert len(await read(PACKAGE, QueueKind.FIXTURES)) == 1


async def test_the_figures_show_what_waits_for_the_customer(
    broker: tuple[Delivery, Reader, Settings], redis: Redis
) -> None:
    delivery, _, _ = broker
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, _fixture_messages(3))])

    async def three_waiting() -> bool:
        figures = await delivery.figures(PACKAGE, QueueKind.FIXTURES)
        return (figures.length, figures.lag, figures.pending) == (3, 3, 0)

    # Figures are kept up to a second (SPEC §9).
    await eventually(three_waiting, 3)


async def test_an_amqp_message_carries_the_properties_the_feed_documents(
    rabbitmq: SessionNode, settings: Settings, redis: Redis
) -> None:
    configured = dataclasses.replace(rabbitmq.settings(settings), delivery="amqp", queue_limit=LIMIT)
    delivery = open_delivery(configured, redis)
    await _set_status(redis, PackageStatus.ACTIVE)
    await delivery.provision(PACKAGE)
    sent = _fixture_messages(1, request_id="r-1")
    await delivery.publish([Parcel(PACKAGE, QueueKind.FIXTURES, sent)])
    (message,) = await _reader(configured, redis, True)(PACKAGE, QueueKind.FIXTURES)
    await _delete_queues(configured)
    await delivery.close()
    assert message.body == sent[0].body
    assert (message.content_type, message.content_encoding) == ("application/json", "utf-8")
    assert message.message_id == sent[0].message_id
    assert message.type == "1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert message.headers == {"MessageType": 1, "FixtureId": 1, "SportId": 6046, "LeagueId": 1001}


# An incident as a later feed may send it: fields the service does not know, at every depth, unicode
# (escaped and not), an integer past 64 bits, floats that a re-encoding would spell differently, spacing.
UPSTREAM_BODY = (
    b'{"id": 7, "fixtureId": 99, "kind": "Score", "confidence": 0.1, "scoreType": "Penalty",'
    b' "playerList": [{"id": 5, "name": "M\\u00fcller \\u2014 \\ud83d\\ude00", "teamId": 12,'
    b' "extra": {"deeper": [1e2, 0.30000000000000004, -0.0]}}],'
    b' "values": [{"position": 1, "value": 2}], "bigNumber": 123456789012345678901234567890,'
    b' "note": "Tor f\\u00fcr Gr\\u00f6\\u00dfe", "plain": "K\xc3\xb6ln",'
    b' "nested": {"a": {"b": {"c": null}}}}'
)


async def test_an_incident_body_reaches_the_package_exactly_as_it_came(
    broker: tuple[Delivery, Reader, Settings], redis: Redis, engine: AsyncEngine
) -> None:
    """SPEC §10: only the header is the service's own; the body is forwarded byte for byte."""
    delivery, read, configured = broker
    await add_fixtures(engine, [fixture(99, status=2)])
    await add_package(engine, PACKAGE, active=True)
    await delivery.provision(PACKAGE)
    header = b'{"MessageId": "m", "Timestamp": "t", "MessageType": 2}'
    message = b'{"header": %s, "body": %s}' % (header, UPSTREAM_BODY)
    received: list[Any] = []

    async def arrived() -> bool:
        received.extend(await read(PACKAGE, QueueKind.INCIDENTS))
        return bool(received)

    async for _ in hold(create_worker(configured, consumer="body-test")):
        await redis.xadd(INCIDENTS_STREAM, {"message": message})
        await eventually(arrived)
    (delivered,) = received
    assert _raw_body(_body(delivered)) == UPSTREAM_BODY


def _raw_body(message: bytes) -> bytes:
    class Envelope(msgspec.Struct):
        body: msgspec.Raw

    return bytes(msgspec.json.decode(message, type=Envelope).body)
