"""A bare AMQP 0-9-1 publisher over an asyncio socket, frames by pamqp: the Python client with the least
work per message. The method and content-header frames of a publish are marshalled once per routing key
and body size; a publish is three frames joined and written, no task, no future, no lock. Confirmations
(Basic.Ack/Nack, `multiple` or not) are read by one task and only counted."""

import asyncio
import struct
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from pamqp import commands, constants, frame, header
from pamqp.base import Frame

CHANNEL = 1
PROPERTIES = commands.Basic.Properties(delivery_mode=2, content_type="application/json")


def properties_of(job: dict[str, Any]) -> commands.Basic.Properties:
    """The job's message properties (bench/amqp_baseline `service_properties`), persistent."""
    given = job.get("properties")
    if not given:
        return PROPERTIES
    return commands.Basic.Properties(
        content_type=given["contentType"],
        content_encoding=given["contentEncoding"],
        headers=given["headers"],
        delivery_mode=2,
        priority=given["priority"],
        correlation_id=given["correlationId"],
        message_id=given["messageId"],
        timestamp=datetime.fromtimestamp(given["timestamp"], UTC),
        message_type=given["type"],
        app_id=given["appId"],
    )


HANDSHAKE_TIMEOUT_S = 30


class AmqpError(RuntimeError):
    pass


class RawChannel:
    """One connection, one channel in confirm mode; at most `window` publishes unconfirmed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        window: int,
        properties: commands.Basic.Properties = PROPERTIES,
    ) -> None:
        self._reader, self._writer, self._window = reader, writer, window
        self._properties = properties
        self._methods: dict[tuple[str, str], bytes] = {}
        self._headers: dict[int, bytes] = {}
        self._tag = self._floor = 0
        self._unsettled: set[int] = set()
        self._room = asyncio.Event()
        self._need = 0
        self._failure: BaseException | None = None
        self._reading: asyncio.Task[None] | None = None
        self.confirmed = self.nacked = 0

    @classmethod
    async def open(
        cls, url: str, window: int, properties: commands.Basic.Properties = PROPERTIES
    ) -> "RawChannel":
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 5672)
        channel = cls(reader, writer, window, properties)
        user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
        await asyncio.wait_for(
            channel._handshake(user, password, unquote(parts.path[1:]) or "/"), HANDSHAKE_TIMEOUT_S
        )
        channel._reading = asyncio.create_task(channel._read_confirms())
        return channel

    async def _handshake(self, user: str, password: str, vhost: str) -> None:
        self._writer.write(header.ProtocolHeader().marshal())
        await self._expect(commands.Connection.Start)
        self._send(
            commands.Connection.StartOk(
                client_properties={"product": "livescore bench raw publisher"},
                mechanism="PLAIN",
                response=f"\0{user}\0{password}",
                locale="en_US",
            ),
            0,
        )
        tune = await self._expect(commands.Connection.Tune)
        assert isinstance(tune, commands.Connection.Tune)
        self._send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0), 0)
        self._send(commands.Connection.Open(virtual_host=vhost), 0)
        await self._expect(commands.Connection.OpenOk)
        self._send(commands.Channel.Open(), CHANNEL)
        await self._expect(commands.Channel.OpenOk)
        self._send(commands.Confirm.Select(), CHANNEL)
        await self._expect(commands.Confirm.SelectOk)

    def _send(self, value: Frame, channel: int) -> None:
        self._writer.write(frame.marshal(value, channel))

    async def _frame(self) -> Frame:
        head = await self._reader.readexactly(constants.FRAME_HEADER_SIZE)
        _, _, size = struct.unpack(">BHI", head)
        rest = await self._reader.readexactly(size + 1)
        _, _, value = frame.unmarshal(head + rest)
        if isinstance(value, commands.Connection.Close | commands.Channel.Close):
            raise AmqpError(f"closed by the broker: {value.reply_code} {value.reply_text}")
        assert isinstance(value, Frame)
        return value

    async def _expect(self, kind: type[Frame]) -> Frame:
        while True:
            value = await self._frame()
            if isinstance(value, kind):
                return value

    async def _read_confirms(self) -> None:
        try:
            while True:
                value = await self._frame()
                if isinstance(value, commands.Basic.Ack | commands.Basic.Nack):
                    self._settle(value.delivery_tag, value.multiple, isinstance(value, commands.Basic.Nack))
        except BaseException as error:
            self._failure = error
            self._room.set()
            raise

    def _settle(self, tag: int, multiple: bool, nack: bool) -> None:
        if multiple:
            settled = [t for t in range(self._floor + 1, tag + 1) if t in self._unsettled]
            self._floor = max(self._floor, tag)
        else:
            settled = [tag] if tag in self._unsettled else []
        for t in settled:
            self._unsettled.discard(t)
        if nack:
            self.nacked += len(settled)
        else:
            self.confirmed += len(settled)
        if len(self._unsettled) + self._need <= self._window:
            self._room.set()

    async def room(self, need: int) -> None:
        while len(self._unsettled) + need > self._window:
            if self._failure is not None:
                raise AmqpError("the connection failed") from self._failure
            self._need = need
            self._room.clear()
            await self._room.wait()
        if self._failure is not None:
            raise AmqpError("the connection failed") from self._failure

    def publish(self, exchange: str, routing_key: str, body: bytes) -> None:
        method = self._methods.get((exchange, routing_key))
        if method is None:
            publish = commands.Basic.Publish(exchange=exchange, routing_key=routing_key)
            method = self._methods[(exchange, routing_key)] = frame.marshal(publish, CHANNEL)
        content = self._headers.get(len(body))
        if content is None:
            content_header = header.ContentHeader(0, len(body), self._properties)
            content = self._headers[len(body)] = frame.marshal(content_header, CHANNEL)
        self._tag += 1
        self._unsettled.add(self._tag)
        body_frame = struct.pack(">BHI", constants.FRAME_BODY, CHANNEL, len(body))
        self._writer.write(b"".join((method, content, body_frame, body, b"\xce")))

    async def flush(self) -> None:
        await self._writer.drain()

    async def settled(self) -> None:
        await self.flush()
        await self.room(self._window)

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)
        try:
            self._send(commands.Connection.Close(reply_code=200, reply_text="bye"), 0)
            await asyncio.wait_for(self._expect(commands.Connection.CloseOk), 5)
        except Exception:  # noqa: S110 - closing anyway; what the broker answers no longer matters
            pass
        self._writer.close()
