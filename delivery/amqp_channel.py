"""A pipelined AMQP 0-9-1 publisher: one connection, one channel in confirm mode, pamqp's frames over an
asyncio stream (issue 22: aiormq's task and future per message made the client the bottleneck).

Concurrent callers share a window of unconfirmed messages; each call (a batch) waits on one future for
the outcome of every message in it — confirmed, refused (Basic.Nack) or returned (Basic.Return of a
mandatory publish: no queue took it). A call's messages are written in order, none of another call's
between them. What the broker or the network ends — Channel.Close, Connection.Close, the socket closed,
a peer silent for two heartbeat intervals — fails every call in flight with ConnectionLost: none of its
messages is known to be confirmed, so the caller publishes them again, on a fresh connection.

A channel is opened by `open_channel` (delivery/amqp_connect.py).
"""

import asyncio
import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pamqp import commands, constants, frame, header
from pamqp.base import Frame
from pamqp.heartbeat import Heartbeat

# The one channel of the connection.
CHANNEL = 1
# Socket reads: large enough that a burst of confirmations and returns is one read.
READ_SIZE = 65536
# A graceful close waits this long for the broker's answer; a dead peer has nothing left to say.
CLOSE_TIMEOUT_S = 2.0
# Publish methods kept encoded (one per queue, or per routing key of a topic exchange).
METHODS_KEPT = 10_000
# Frame overhead: type (1), channel (2), size (4) before the payload, the end octet after it.
_FRAME_OVERHEAD = 8
# A frame's head: its type, channel and size (also read during the handshake, delivery/amqp_connect.py).
FRAME_HEAD = struct.Struct(">BHI")
# Basic.Ack's payload: class 60, method 80, delivery tag, flags; read without pamqp on the hot path.
_ACK = struct.Struct(">HHQB")
_BASIC_ACK = (60, 80)
_HEARTBEAT = Heartbeat.marshal()


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


def _marshal(value: Frame, channel: int = CHANNEL) -> bytes:
    return frame.marshal(value, channel)


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

    async def send(
        self, exchange: str, routing_key: str, contents: Sequence[Content], mandatory: bool = True
    ) -> asyncio.Future[list[Outcome]]:
        """`publish` in two steps, as `send_routed`."""
        return await self.send_routed(exchange, [routing_key] * len(contents), contents, mandatory)

    async def publish_routed(
        self,
        exchange: str,
        routing_keys: Sequence[str],
        contents: Sequence[Content],
        mandatory: bool = True,
    ) -> list[Outcome]:
        """`publish` with a routing key of its own for each message (one publish to a topic exchange per
        message of many fixtures)."""
        return await (await self.send_routed(exchange, routing_keys, contents, mandatory))

    async def send_routed(
        self,
        exchange: str,
        routing_keys: Sequence[str],
        contents: Sequence[Content],
        mandatory: bool = True,
    ) -> asyncio.Future[list[Outcome]]:
        """`publish_routed` in two steps: the messages written (after every earlier call's; this waits
        only for room in the window), then the returned future gives their outcomes once the broker
        settled them all, or fails with ConnectionLost. A caller may send again meanwhile: its next
        messages follow these on the wire, and the broker settles them in that order."""
        future: asyncio.Future[list[Outcome]] = self._loop.create_future()
        batch = _Batch(len(contents), future)
        if not contents:
            future.set_result([])
            return future
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
        return future

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
            parts += (FRAME_HEAD.pack(constants.FRAME_BODY, CHANNEL, len(piece)), piece, b"\xce")
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
                    kind, _, size = FRAME_HEAD.unpack_from(buffer, offset)
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
