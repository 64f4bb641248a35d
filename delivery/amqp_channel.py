"""A pipelined AMQP 0-9-1 publisher: one connection, one channel in confirm mode, pamqp's frames over an
asyncio stream (issue 22: aiormq's task and future per message made the client the bottleneck).

Concurrent callers share a window of unconfirmed messages; each call (a batch) waits on one future for
the outcome of every message in it — confirmed, refused (Basic.Nack) or returned (Basic.Return of a
mandatory publish: no queue took it). A call's messages are written in order, none of another call's
between them. What the broker or the network ends — Channel.Close, Connection.Close, the socket closed,
a peer silent for two heartbeat intervals — fails every call in flight with ConnectionLost: none of its
messages is known to be confirmed, so the caller publishes them again, on a fresh connection.

The URL is read as aiormq reads it (the connection this replaces): `amqps://` for TLS, and the query
parameters `heartbeat` (seconds, default 60; 0 none), `cafile`, `capath`, `cadata` (base64), `certfile`,
`keyfile`, `no_verify_ssl=1` and `name` (the connection's name in the management UI).
"""

import asyncio
import base64
import enum
import ssl
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from pamqp import commands, constants, frame, header
from pamqp.base import Frame
from pamqp.heartbeat import Heartbeat

# The one channel of the connection.
CHANNEL = 1
# What a heartbeat is, when the URL says nothing (aiormq's default: the same connection as before).
DEFAULT_HEARTBEAT_S = 60
# The largest frame this client takes or sends when the broker sets no limit (RabbitMQ's default).
DEFAULT_FRAME_MAX = 131072
# Socket reads: large enough that a burst of confirmations and returns is one read.
READ_SIZE = 65536
# A graceful close waits this long for the broker's answer; a dead peer has nothing left to say.
CLOSE_TIMEOUT_S = 2.0
# Publish methods kept encoded (one per queue, or per routing key of a topic exchange).
METHODS_KEPT = 10_000
# Frame overhead: type (1), channel (2), size (4) before the payload, the end octet after it.
_FRAME_OVERHEAD = 8
_FRAME_HEAD = struct.Struct(">BHI")
# Basic.Ack's payload: class 60, method 80, delivery tag, flags; read without pamqp on the hot path.
_ACK = struct.Struct(">HHQB")
_BASIC_ACK = (60, 80)
_HEARTBEAT = Heartbeat.marshal()

F = TypeVar("F", bound=Frame)


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"
    REFUSED = "refused"  # Basic.Nack: a queue did not take it (full, with x-overflow reject-publish)
    RETURNED = "returned"  # Basic.Return: mandatory, and no queue was bound to take it


class ConnectionLost(ConnectionError):
    """The connection or its channel ended, or never opened: whatever was in flight is not confirmed."""


@dataclass(frozen=True, slots=True)
class Content:
    """One message as the channel writes it: its properties already encoded (the part of a content
    header after the body size), its body, and its message_id (a returned message is matched by it)."""

    properties: bytes
    body: bytes
    message_id: str | None = None


class _Batch:
    """One call's messages: an outcome for each, one future for them all."""

    __slots__ = ("future", "left", "outcomes")

    def __init__(self, size: int, future: asyncio.Future[list[Outcome]]) -> None:
        self.outcomes = [Outcome.CONFIRMED] * size
        self.left, self.future = size, future

    def settle(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        self.left -= 1
        if self.left == 0 and not self.future.done():
            self.future.set_result(self.outcomes)


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    user: str
    password: str
    heartbeat_s: int
    name: str | None
    tls: ssl.SSLContext | None

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        secure = parts.scheme == "amqps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (5671 if secure else 5672),
            user=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            heartbeat_s=_heartbeat(query.get("heartbeat")),
            name=query.get("name"),
            tls=_tls_context(query) if secure else None,
        )


def _heartbeat(value: str | None) -> int:
    """aiormq's reading: an integer of 0…65534 seconds, anything else none at all."""
    try:
        seconds = int(value) if value is not None else DEFAULT_HEARTBEAT_S
    except ValueError:
        return 0
    return seconds if 0 <= seconds < 65535 else 0


def _tls_context(query: dict[str, str]) -> ssl.SSLContext:
    """As aiormq builds it from the same URL parameters."""
    cadata = query.get("cadata")
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH,
        cafile=query.get("cafile"),
        capath=query.get("capath"),
        cadata=base64.b64decode(cadata) if cadata else None,
    )
    if query.get("certfile"):
        context.load_cert_chain(query["certfile"], query.get("keyfile"))
    if query.get("no_verify_ssl", "0") != "0":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _marshal(value: Frame, channel: int = CHANNEL) -> bytes:
    return frame.marshal(value, channel)


async def open_channel(url: str, vhost: str, window: int, timeout_s: float) -> "ConfirmChannel":
    """A connection to the node of `url` (its path is ignored: `vhost` is the virtual host), logged in
    with PLAIN, its channel in confirm mode; all of it within `timeout_s`."""
    target = _Target.of(url)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.tls)
        try:
            frame_max, heartbeat_s = await _handshake(reader, writer, target, vhost)
        except BaseException:
            writer.close()
            raise
    return ConfirmChannel(reader, writer, window, frame_max, heartbeat_s)


async def _handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: _Target, vhost: str
) -> tuple[int, int]:
    writer.write(header.ProtocolHeader().marshal())
    await _expect(reader, commands.Connection.Start)
    properties: dict[str, Any] = {
        "product": "livescore-engage",
        "capabilities": {
            "authentication_failure_close": True,
            "basic.nack": True,
            "connection.blocked": True,
            "publisher_confirms": True,
        },
    }
    if target.name:
        properties["connection_name"] = target.name
    response = f"\0{target.user}\0{target.password}"
    writer.write(_marshal(commands.Connection.StartOk(properties, "PLAIN", response), 0))
    tune = await _expect(reader, commands.Connection.Tune)
    frame_max = min(tune.frame_max or DEFAULT_FRAME_MAX, DEFAULT_FRAME_MAX)
    # The lower of the two asked for; none when this side asks for none.
    heartbeat_s = min(target.heartbeat_s, tune.heartbeat or target.heartbeat_s)
    writer.write(_marshal(commands.Connection.TuneOk(tune.channel_max, frame_max, heartbeat_s), 0))
    writer.write(_marshal(commands.Connection.Open(virtual_host=vhost), 0))
    await _expect(reader, commands.Connection.OpenOk)
    writer.write(_marshal(commands.Channel.Open()))
    await _expect(reader, commands.Channel.OpenOk)
    writer.write(_marshal(commands.Confirm.Select()))
    await _expect(reader, commands.Confirm.SelectOk)
    return frame_max, heartbeat_s


async def _expect(reader: asyncio.StreamReader, kind: type[F]) -> F:
    """The next method frame of `kind`, anything else meanwhile (a heartbeat) skipped; a close is a
    refusal (a wrong password, a vhost not allowed)."""
    while True:
        try:
            head = await reader.readexactly(constants.FRAME_HEADER_SIZE)
            rest = await reader.readexactly(_FRAME_HEAD.unpack(head)[2] + 1)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("the broker closed the connection during the handshake") from exc
        _, _, value = frame.unmarshal(head + rest)
        if isinstance(value, commands.Connection.Close | commands.Channel.Close):
            raise ConnectionLost(f"refused by the broker: {value.reply_code} {value.reply_text}")
        if isinstance(value, kind):
            return value


class ConfirmChannel:
    """An open connection's one channel in confirm mode, at most `window` messages unconfirmed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        window: int,
        frame_max: int,
        heartbeat_s: int,
    ) -> None:
        self._reader, self._writer, self._window = reader, writer, window
        self._loop = asyncio.get_running_loop()
        self._body_max = frame_max - _FRAME_OVERHEAD
        self._heartbeat_s = heartbeat_s
        self._methods: dict[tuple[str, str, bool], bytes] = {}
        self._tag = self._floor = 0  # the last tag used; every tag up to the floor is settled
        self._unsettled: dict[int, tuple[_Batch, int, str | None]] = {}
        self._returnable: dict[str, int] = {}  # message_id → tag, for mandatory messages in flight
        self._returned: set[int] = set()
        self._returning = False  # a Basic.Return came: its content header names the message
        self._outgoing: list[bytes] = []  # written at the end of this turn of the loop, as one write
        self._room, self._unblocked = asyncio.Event(), asyncio.Event()
        self._room.set()
        self._unblocked.set()
        # One writer at a time: a call's messages go out together, in order; waiting callers queue.
        self._writing = asyncio.Lock()
        self._failure: ConnectionLost | None = None
        self._closing = False
        self._heard = self._loop.time()
        self._reading = asyncio.ensure_future(self._read())
        self._beating = asyncio.ensure_future(self._beat()) if heartbeat_s else None

    @property
    def lost(self) -> bool:
        """Whether the connection ended (its node went away, or the broker closed it)."""
        return self._failure is not None

    async def publish(
        self, exchange: str, routing_key: str, contents: Sequence[Content], mandatory: bool = True
    ) -> list[Outcome]:
        """Every message written in order, then the outcome of each once the broker settled them all.
        Raises ConnectionLost if the connection ends first."""
        return await self.publish_routed(exchange, [routing_key] * len(contents), contents, mandatory)

    async def publish_routed(
        self,
        exchange: str,
        routing_keys: Sequence[str],
        contents: Sequence[Content],
        mandatory: bool = True,
    ) -> list[Outcome]:
        """`publish` with a routing key of its own for each message (one publish to a topic exchange per
        message of many fixtures)."""
        future: asyncio.Future[list[Outcome]] = self._loop.create_future()
        batch = _Batch(len(contents), future)
        if not contents:
            return []
        try:
            async with self._writing:
                for index, (key, content) in enumerate(zip(routing_keys, contents, strict=True)):
                    if self._no_room():
                        await self._until_room()
                    self._write(self._method(exchange, key, mandatory), content, batch, index, mandatory)
        except BaseException:
            # What failed the call is raised here; the batch's own failure (the same) is not awaited.
            if future.done() and not future.cancelled():
                future.exception()
            future.cancel()
            raise
        return await future

    async def close(self) -> None:
        """Closed as the protocol asks, without waiting long on a broker that does not answer."""
        if self._failure is None:
            self._closing = True
            self._send(_marshal(commands.Connection.Close(200, "closing", 0, 0), 0))
            await asyncio.wait([self._reading], timeout=CLOSE_TIMEOUT_S)
        self._fail(ConnectionLost("the connection was closed"))

    def _method(self, exchange: str, routing_key: str, mandatory: bool) -> bytes:
        key = (exchange, routing_key, mandatory)
        method = self._methods.get(key)
        if method is None:
            if len(self._methods) >= METHODS_KEPT:  # one a queue or a routing key: bounded all the same
                self._methods.clear()
            publish = commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory)
            method = self._methods[key] = _marshal(publish)
        return method

    def _no_room(self) -> bool:
        full = len(self._unsettled) >= self._window
        return full or not self._unblocked.is_set() or self._failure is not None

    async def _until_room(self) -> None:
        """Until the window has room and the broker does not block publishing (Connection.Blocked)."""
        while True:
            if self._failure is not None:
                raise self._failure
            if not self._unblocked.is_set():
                await self._unblocked.wait()
            elif len(self._unsettled) >= self._window:
                self._room.clear()
                self._flush()
                await self._writer.drain()
                await self._room.wait()
            else:
                return

    def _write(self, method: bytes, content: Content, batch: _Batch, index: int, mandatory: bool) -> None:
        self._tag += 1
        tag = self._tag
        self._unsettled[tag] = (batch, index, content.message_id if mandatory else None)
        if mandatory and content.message_id is not None:
            self._returnable[content.message_id] = tag
        body = content.body
        content_header = struct.pack(
            ">BHIHHQ", constants.FRAME_HEADER, CHANNEL, 12 + len(content.properties), 60, 0, len(body)
        )
        parts = [method, content_header, content.properties, b"\xce"]
        for start in range(0, len(body), self._body_max):
            piece = body[start : start + self._body_max]
            parts += (_FRAME_HEAD.pack(constants.FRAME_BODY, CHANNEL, len(piece)), piece, b"\xce")
        self._send(b"".join(parts))

    def _send(self, data: bytes) -> None:
        """Queued, and written once this turn of the loop ends: the messages of every caller that
        published meanwhile go out in one write (one system call, not one a message)."""
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(data)

    def _flush(self) -> None:
        if self._outgoing and self._failure is None:
            self._writer.write(b"".join(self._outgoing))
        self._outgoing.clear()

    async def _read(self) -> None:
        buffer = bytearray()
        try:
            while True:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    raise ConnectionLost("the broker closed the connection")
                self._heard = self._loop.time()
                buffer += data
                offset = 0
                while len(buffer) - offset >= constants.FRAME_HEADER_SIZE:
                    kind, _, size = _FRAME_HEAD.unpack_from(buffer, offset)
                    end = offset + constants.FRAME_HEADER_SIZE + size + 1
                    if end > len(buffer):
                        break
                    self._received(kind, bytes(buffer[offset:end]))
                    offset = end
                del buffer[:offset]
        except ConnectionLost as lost:
            self._fail(lost)
        except Exception as exc:  # reset, TLS failures, a frame pamqp cannot read: every caller must hear
            failure = ConnectionLost(f"the connection failed: {type(exc).__name__}")
            failure.__cause__ = exc
            self._fail(failure)

    def _received(self, kind: int, data: bytes) -> None:
        if kind == constants.FRAME_METHOD:
            class_method = struct.unpack_from(">HH", data, constants.FRAME_HEADER_SIZE)
            if class_method == _BASIC_ACK:
                _, _, tag, flags = _ACK.unpack_from(data, constants.FRAME_HEADER_SIZE)
                self._settle(tag, bool(flags & 1), Outcome.CONFIRMED)
                return
            self._method_received(frame.unmarshal(data)[2])
        elif kind == constants.FRAME_HEADER and self._returning:
            self._returning = False
            value = frame.unmarshal(data)[2]
            message_id = value.properties.message_id if isinstance(value, header.ContentHeader) else None
            tag = self._returnable.get(message_id or "")
            if tag is not None:
                self._returned.add(tag)
        # Body frames follow only a return (whose body is not needed), heartbeats only say "alive".

    def _method_received(self, value: object) -> None:
        match value:
            case commands.Basic.Nack():
                self._settle(value.delivery_tag, value.multiple, Outcome.REFUSED)
            case commands.Basic.Return():
                self._returning = True
            case commands.Connection.Blocked():
                self._unblocked.clear()
            case commands.Connection.Unblocked():
                self._unblocked.set()
            case commands.Channel.Close():
                self._send(_marshal(commands.Channel.CloseOk()))
                raise ConnectionLost(f"the broker closed the channel: {value.reply_code} {value.reply_text}")
            case commands.Connection.Close():
                self._send(_marshal(commands.Connection.CloseOk(), 0))
                raise ConnectionLost(
                    f"the broker closed the connection: {value.reply_code} {value.reply_text}"
                )
            case commands.Connection.CloseOk() if self._closing:
                raise ConnectionLost("the connection was closed")

    def _settle(self, tag: int, multiple: bool, outcome: Outcome) -> None:
        if multiple:
            for settled in range(self._floor + 1, tag + 1):
                self._settle_one(settled, outcome)
        else:
            self._settle_one(tag, outcome)
        while self._floor < self._tag and self._floor + 1 not in self._unsettled:
            self._floor += 1
        if len(self._unsettled) < self._window:
            self._room.set()

    def _settle_one(self, tag: int, outcome: Outcome) -> None:
        entry = self._unsettled.pop(tag, None)
        if entry is None:
            return
        batch, index, message_id = entry
        if message_id is not None and self._returnable.get(message_id) == tag:
            del self._returnable[message_id]
        if tag in self._returned:
            self._returned.discard(tag)
            outcome = Outcome.RETURNED
        batch.settle(index, outcome)

    async def _beat(self) -> None:
        """A heartbeat sent every half interval; a broker silent for two intervals is gone (a node lost
        from the network resets no connection)."""
        while self._failure is None:
            await asyncio.sleep(self._heartbeat_s / 2)
            if self._loop.time() - self._heard > 2 * self._heartbeat_s:
                self._fail(ConnectionLost(f"the broker was silent for {2 * self._heartbeat_s} s"))
                return
            self._send(_HEARTBEAT)

    def _fail(self, failure: ConnectionLost) -> None:
        """Every call in flight fails with `failure`, and so does every later one."""
        if self._failure is not None:
            return
        self._flush()
        self._failure = failure
        for batch, _, _ in self._unsettled.values():
            if not batch.future.done():
                batch.future.set_exception(failure)
        self._unsettled.clear()
        self._returnable.clear()
        self._room.set()
        self._unblocked.set()
        self._writer.close()
        for task in (self._reading, self._beating):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
