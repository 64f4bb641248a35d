"""The baseline's queues, exchange and messages on the private node, with the service's account."""

import asyncio
import json
from dataclasses import dataclass

import aiormq
from pamqp.common import FieldValue

from bench.incidents import FIRST_PACKAGE_ID, PACKAGES, _incidents
from cli.demo_fixtures import generate
from domain.fixtures import encode_fixture
from domain.messages import MessageType, envelope
from domain.settings import Settings
from domain.streams import amqp_queue

EXCHANGE = "bench.baseline.incidents"
MARKER = "__CREATED_MS__"
TEMPLATES = 20
SEED = 13


@dataclass(frozen=True, slots=True)
class Queues:
    incidents: list[str]
    exchange: str
    snapshot: str


def vhost_url(settings: Settings, kind: str) -> str:
    vhost = settings.amqp_incidents_vhost if kind == "incidents" else settings.amqp_fixtures_vhost
    return settings.amqp_url.rstrip("/") + "/" + vhost


def declare(incidents_url: str, fixtures_url: str, limit: int, queue_type: str = "classic") -> Queues:
    """50 packages' Incidents queues and one Fixtures queue, declared as the service declares them
    (delivery/amqp.py), and a fanout exchange bound to the 50."""
    names = [amqp_queue(FIRST_PACKAGE_ID + i) for i in range(PACKAGES)]
    asyncio.run(_declare(incidents_url, names, limit, EXCHANGE, queue_type))
    asyncio.run(_declare(fixtures_url, names[:1], limit, None, queue_type))
    return Queues(names, EXCHANGE, names[0])


async def _declare(url: str, names: list[str], limit: int, exchange: str | None, queue_type: str) -> None:
    arguments: dict[str, FieldValue] = {
        "x-max-length": limit,
        "x-overflow": "reject-publish",
        "x-queue-type": queue_type,
    }
    if queue_type == "quorum":
        arguments["x-queue-leader-locator"] = "balanced"
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        if exchange:
            await channel.exchange_declare(exchange, exchange_type="fanout", durable=True)
        for name in names:
            await channel.queue_declare(name, durable=True, arguments=arguments)
            if exchange:
                await channel.queue_bind(name, exchange, routing_key="")
    finally:
        await connection.close()


def purge(url: str, names: list[str]) -> None:
    asyncio.run(_purge(url, names))


async def _purge(url: str, names: list[str]) -> None:
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_purge(name)
    finally:
        await connection.close()


def incident_templates(size: int) -> list[str]:
    """Incident envelopes (MessageType 2) as the service sends them, with the creation-time marker."""
    return [_stamped(body, size) for body in _incidents(list(range(1001, 1001 + TEMPLATES)), TEMPLATES, 1)]


def fixture_templates(size: int) -> list[str]:
    """A fixture envelope (MessageType 1) as a snapshot sends it, with the creation-time marker."""
    fixture = next(iter(generate(1, SEED)))
    return [_stamped(envelope(MessageType.FIXTURE, encode_fixture(fixture)).body, size)]


def _stamped(message: bytes, size: int) -> str:
    """The envelope with `createdMs` (the marker, replaced per message by its creation time, epoch ms)
    first in its header, padded to about `size` bytes by an additive header field."""
    document = json.loads(message)
    header = {"createdMs": 0, **document["header"]}
    document["header"] = header
    text = json.dumps(document, separators=(",", ":"))
    # The stamp is written as ms with 3 decimals: 17 characters where `0` stood.
    header["padding"] = "x" * max(0, size - len(text) - 16 - len(',"padding":""'))
    text = json.dumps(document, separators=(",", ":"))
    return text.replace('"createdMs":0', f'"createdMs":{MARKER}', 1)
