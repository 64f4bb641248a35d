"""The pipelined publisher (delivery/amqp_channel.py) on the real broker: confirmations, refusals by a full
queue, returns of what no queue took, the broker ending the channel or the connection, TLS, and messages whose
properties are what FastStream's publish sent before it."""

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
from aio_pika.abc import AbstractChannel
from faststream.rabbit import RabbitBroker

from delivery.amqp_channel import ConfirmChannel, ConnectionLost, Content, Outcome
from delivery.amqp_connect import open_channel
from delivery.amqp_properties import message_content
from domain.messages import MessageType, envelope, envelopes, fixture_headers
from domain.settings import Settings
from tests.rabbitmq_server import SessionNode
from tests.support import eventually
from tests.support_amqp import TIMEOUT_S, declare


@pytest.fixture
def vhost(amqp_settings: Settings) -> str:
    return amqp_settings.amqp_fixtures_vhost


@pytest.fixture
def channel_of(service: dict[str, AbstractChannel], vhost: str) -> AbstractChannel:
    """The service's aio-pika channel on the vhost: declares and gets beside the publisher under test."""
    return service[vhost]


@pytest.fixture
async def queue(channel_of: AbstractChannel) -> AsyncIterator[str]:
    name = f"channel-test-{uuid.uuid4().hex[:8]}"
    await declare(channel_of, name, 1000)
    yield name
    await channel_of.queue_delete(name)


@pytest.fixture
async def publisher(amqp_settings: Settings, vhost: str) -> AsyncIterator[ConfirmChannel]:
    channel = await open_channel(amqp_settings.amqp_url, vhost, 100, TIMEOUT_S)
    yield channel
    await channel.close()


def contents(count: int) -> list[Content]:
    return [message_content(envelope(MessageType.FIXTURE, f'{{"n":{n}}}'.encode())) for n in range(count)]


async def bodies(channel: AbstractChannel, queue: str) -> list[bytes]:
    got = []
    while (message := await (await channel.get_underlay_channel()).basic_get(queue, no_ack=True)).body:
        got.append(message.body)
    return got


async def test_a_batch_larger_than_the_window_is_confirmed_and_queued_in_order(
    publisher: ConfirmChannel, queue: str, channel_of: AbstractChannel
) -> None:
    sent = contents(350)  # the window is 100: the batch waits for room three times
    outcomes = await asyncio.wait_for(publisher.publish("", queue, sent), TIMEOUT_S)
    assert outcomes == [Outcome.CONFIRMED] * 350
    assert await bodies(channel_of, queue) == [content.body for content in sent]


async def test_concurrent_callers_each_get_their_own_outcomes(
    publisher: ConfirmChannel, queue: str, channel_of: AbstractChannel
) -> None:
    batches = [contents(40) for _ in range(5)]
    results = await asyncio.wait_for(
        asyncio.gather(*(publisher.publish("", queue, batch) for batch in batches)), TIMEOUT_S
    )
    assert results == [[Outcome.CONFIRMED] * 40] * 5
    queued = await bodies(channel_of, queue)
    for batch in batches:  # each call's messages in order, none of another call's between them
        first = queued.index(batch[0].body)
        assert queued[first : first + 40] == [content.body for content in batch]


async def test_a_full_reject_publish_queue_refuses_what_does_not_fit(
    publisher: ConfirmChannel, channel_of: AbstractChannel
) -> None:
    name = f"channel-full-{uuid.uuid4().hex[:8]}"
    await declare(channel_of, name, 2)
    try:
        outcomes = await asyncio.wait_for(publisher.publish("", name, contents(4)), TIMEOUT_S)
    finally:
        await channel_of.queue_delete(name)
    assert outcomes == [Outcome.CONFIRMED, Outcome.CONFIRMED, Outcome.REFUSED, Outcome.REFUSED]


async def test_a_message_no_queue_takes_is_returned_and_the_others_confirmed(
    publisher: ConfirmChannel, queue: str
) -> None:
    missing = f"channel-missing-{uuid.uuid4().hex[:8]}"
    returned, kept = await asyncio.wait_for(
        asyncio.gather(
            publisher.publish("", missing, contents(2)), publisher.publish("", queue, contents(2))
        ),
        TIMEOUT_S,
    )
    assert returned == [Outcome.RETURNED] * 2
    assert kept == [Outcome.CONFIRMED] * 2


async def test_the_broker_closing_the_channel_fails_the_call_and_every_later_one(
    publisher: ConfirmChannel, queue: str
) -> None:
    with pytest.raises(ConnectionLost, match="404"):  # NOT_FOUND: publishing to no such exchange
        await asyncio.wait_for(publisher.publish("no-such-exchange", queue, contents(3)), TIMEOUT_S)
    assert publisher.lost
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(publisher.publish("", queue, contents(1)), TIMEOUT_S)


async def test_the_broker_closing_the_connection_fails_every_publish_in_flight(
    amqp_settings: Settings, rabbitmq: SessionNode, vhost: str, queue: str
) -> None:
    name = f"closed-by-the-broker-{uuid.uuid4().hex[:8]}"
    publisher = await open_channel(f"{amqp_settings.amqp_url}?name={name}", vhost, 1000, TIMEOUT_S)
    management = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{rabbitmq.management_port}", auth=("guest", "guest"), timeout=TIMEOUT_S
    )
    try:
        listed: list[dict[str, Any]] = []

        async def is_listed() -> bool:  # the management API lists a connection within a second or so
            answer = await management.get("/api/connections")
            listed[:] = [c for c in answer.json() if c.get("user_provided_name") == name]
            return bool(listed)

        await eventually(is_listed, TIMEOUT_S, "the publisher's connection listed")
        # Far more than the broker takes in the instant the close needs: the call is in flight.
        in_flight = asyncio.ensure_future(publisher.publish("", queue, contents(200_000)))
        await asyncio.sleep(0.05)
        await management.delete(f"/api/connections/{quote(listed[0]['name'], safe='')}")
        with pytest.raises(ConnectionLost, match="320"):  # CONNECTION_FORCED
            await asyncio.wait_for(in_flight, TIMEOUT_S)
        assert publisher.lost
    finally:
        await management.aclose()
        await publisher.close()


async def test_a_message_carries_the_very_properties_faststream_published_before(
    amqp_settings: Settings, publisher: ConfirmChannel, queue: str, channel_of: AbstractChannel, vhost: str
) -> None:
    """SPEC §9's contract, compared on the wire: the same message sent as delivery/amqp.py sent it
    through FastStream before (its `_one`), then through the channel, both read back from the queue."""
    (message,) = envelopes(
        MessageType.FIXTURE, [b'{"fixtureId":7}'], "request-1", [fixture_headers(7, 6046, 1)]
    )
    correlation_id, now = str(uuid.uuid4()), time.time()
    broker = RabbitBroker(amqp_settings.amqp_url, virtualhost=vhost)
    await broker.connect()
    try:
        await broker.publish(
            message.body,
            queue=queue,
            persist=True,
            mandatory=True,
            content_type="application/json",
            content_encoding="utf-8",
            message_id=message.message_id,
            timestamp=now,
            message_type=str(int(message.message_type)),
            headers={"MessageType": int(message.message_type), **message.headers},
            correlation_id=correlation_id,
            timeout=TIMEOUT_S,
        )
    finally:
        await broker.stop()
    with (
        # The same random draw as the correlation id FastStream got (a version 4 UUID keeps its bits).
        mock.patch(
            "delivery.amqp_properties._random.getrandbits", return_value=uuid.UUID(correlation_id).int
        ),
        mock.patch("delivery.amqp_properties.time.time", return_value=now),
    ):
        content = message_content(message)
    assert await asyncio.wait_for(publisher.publish("", queue, [content]), TIMEOUT_S) == [Outcome.CONFIRMED]
    underlay = await channel_of.get_underlay_channel()
    before, after = [await underlay.basic_get(queue, no_ack=True) for _ in range(2)]
    assert after.header.marshal() == before.header.marshal()
    assert after.body == before.body
    assert after.header.properties.headers == {
        "MessageType": 1,
        "FixtureId": 7,
        "SportId": 6046,
        "LeagueId": 1,
    }


async def test_an_amqps_url_publishes_over_tls_trusting_the_ca_it_names(
    amqp_settings: Settings, rabbitmq: SessionNode, vhost: str, queue: str, tmp_path: Path
) -> None:
    assert rabbitmq.ca is not None
    ca = tmp_path / "ca.pem"
    rabbitmq.ca.cert_pem.write_to_path(str(ca))
    plain = urlsplit(amqp_settings.amqp_url)
    netloc = plain.netloc.replace(f":{plain.port}", f":{rabbitmq.amqps_port}")
    url = urlunsplit(("amqps", netloc, "/", f"cafile={ca}", ""))
    publisher = await open_channel(url, vhost, 10, TIMEOUT_S)
    try:
        outcomes = await asyncio.wait_for(publisher.publish("", queue, contents(3)), TIMEOUT_S)
    finally:
        await publisher.close()
    assert outcomes == [Outcome.CONFIRMED] * 3


async def test_an_amqps_url_without_the_ca_is_refused(
    amqp_settings: Settings, rabbitmq: SessionNode, vhost: str
) -> None:
    plain = urlsplit(amqp_settings.amqp_url)
    netloc = plain.netloc.replace(f":{plain.port}", f":{rabbitmq.amqps_port}")
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_channel(urlunsplit(("amqps", netloc, "/", "", "")), vhost, 10, TIMEOUT_S)
