"""Heartbeat rounds over AMQP through a broker outage (issue 20, item 12): the round due while the broker
could not be reached goes out once it can, with one log line and no traceback.

The outage is a gate of the test's own between the worker and the session's node: a TCP forwarder that,
shut, cuts every connection through it and refuses new ones (the node itself serves other tests)."""

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.settings import Settings
from domain.streams import amqp_queue, interval_turn
from tests.rabbitmq_server import SessionNode
from tests.support import add_package, eventually, free_port
from worker.beats import Beats, current_interval
from worker.handlers import follow_storage
from worker.resources import Resources

PACKAGE = 880_120
# An hour: without the fix, the round missed in the outage would be the next one, an hour later.
INTERVAL_S = 3600.0


class Gate:
    """Forwards connections on `port` to the node's AMQP port while open."""

    def __init__(self, target: int) -> None:
        self.port, self._target = free_port(), target
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._copy(reader, upstream_writer), self._copy(upstream_reader, writer), return_exceptions=True
        )

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def gate(rabbitmq: SessionNode) -> AsyncIterator[Gate]:
    gate = Gate(rabbitmq.amqp_port)
    yield gate
    await gate.shut()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.netloc.rsplit(':', 1)[0]}:{port}"))


async def _heartbeats(settings: Settings) -> list[dict[str, Any]]:
    """What reached the package's Incidents queue, taken from it (straight from the node)."""
    async with await aio_pika.connect(settings.amqp_url.rstrip("/") + "/Incidents") as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
        taken = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append(json.loads(message.body))
        await channel.queue_delete(amqp_queue(PACKAGE))
        return taken


async def test_the_round_due_during_a_broker_outage_is_sent_when_the_broker_is_back(
    amqp_settings: Settings,
    engine: AsyncEngine,
    redis: Redis,
    gate: Gate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = dataclasses.replace(amqp_settings, delivery="amqp", keepalive_s=0, heartbeat_s=INTERVAL_S)
    through_gate = dataclasses.replace(settings, amqp_url=_through(settings.amqp_url, gate.port))
    await add_package(engine, PACKAGE, active=True)
    # Its queues bound to the service's exchange, as a worker's start leaves them.
    binder = Resources.open(settings, "beats-binder")
    await follow_storage(binder)
    await binder.close()
    res = Resources.open(through_gate, "beats-outage")
    beats = Beats(res)
    try:
        with caplog.at_level(logging.INFO):
            await beats.start()  # the gate is shut: the broker cannot be reached

            async def tried_thrice() -> bool:
                return len(_lines(caplog, "does not answer")) >= 3

            await eventually(tried_thrice, 20, "a round tried three times through the outage")
            number = await current_interval(res, INTERVAL_S)
            await gate.open()

            async def delivered() -> bool:
                return await _held(settings) > 0

            await eventually(delivered, 20, "the heartbeat after the outage")
    finally:
        await beats.stop()
        with contextlib.suppress(Exception):
            await res.close()
    received = await _heartbeats(settings)
    beat_lines = [r for r in caplog.records if r.name == "worker.beats" and r.levelno >= logging.WARNING]
    # The round of the interval the outage began in, sent once, by the worker that claimed it.
    assert [m["header"]["MessageType"] for m in received] == [32]
    assert await redis.get(interval_turn("heartbeat", number)) == b"beats-outage"
    # One line each for the whole outage, however many tries; no traceback.
    assert len(beat_lines) == 1
    assert beat_lines[0].exc_info is None
    assert "heartbeat round" in beat_lines[0].getMessage()
    assert len(_lines(caplog, "publishing over AMQP failed")) == 1


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def _held(settings: Settings) -> int:
    """Messages ready in the package's Incidents queue, asked of the node directly (0 if it has none yet)."""
    async with await aio_pika.connect(settings.amqp_url.rstrip("/") + "/Incidents") as connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return 0
        return int(queue.declaration_result.message_count or 0)
