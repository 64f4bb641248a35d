"""A pipelined Redis connection in RESP for `MultiplexedRedis` (ingress/multiplexed_redis.py): commands
packed by hand, written a loop iteration at a time, replies matched to their calls in order."""

import asyncio
from collections import deque
from typing import Any, cast

import hiredis
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError, TimeoutError

from domain.scripts.runner import Arg


def pack(*parts: Arg) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespConnection(asyncio.Protocol):
    """One connection to Redis: the commands of a loop iteration written in one go, their replies parsed
    by hiredis and handed to the calls in order; dropped when a reply is overdue."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._reader = hiredis.Reader(replyError=ResponseError, protocolError=InvalidResponse)
        # Calls awaiting a reply, in the order their commands were written, with the time of each.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._flushing = False
        # A WAIT to write after everything of this loop iteration, and the future its reply goes to.
        self._trailing_wait: tuple[asyncio.Future[Any], bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # What calls on this connection fail with once it is closed; a new instance for each.
        self._failure: tuple[type[Exception], str] = (ConnectionError, "connection to Redis lost")
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, though they behave as one.
        self._transport, self.open = cast(asyncio.Transport, transport), True

    def call(self, command: bytes) -> "asyncio.Future[Any]":
        if not self.open:
            raise self._error()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        idle = not self._waiting
        self._waiting.append((future, loop.time()))
        if idle and self._transport is not None:
            # Nothing in flight: send now, without waiting for the loop to come round.
            self._transport.write(command)
        else:
            self._flush_soon(loop)
            self._out.append(command)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout_s, self._check)
        return future

    def call_replicated(
        self, command: bytes, wait: bytes
    ) -> "tuple[asyncio.Future[Any], asyncio.Future[Any]]":
        """`command`, and a WAIT written after it and after every other command of this loop iteration:
        one WAIT confirms them all (it counts replicas up to this connection's latest write)."""
        reply = self.call(command)
        if self._trailing_wait is None:
            loop = asyncio.get_running_loop()
            self._trailing_wait = (loop.create_future(), wait)
            self._flush_soon(loop)
        return reply, self._trailing_wait[0]

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write what this loop iteration queued once it ends, in one go."""
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                future, _ = self._waiting.popleft()
                if not future.done():  # its caller may have been cancelled meanwhile
                    future.set_result(reply)
        except InvalidResponse as exc:
            self._failure = (ConnectionError, f"bad reply from Redis: {exc}")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self._watchdog is not None:
            self._watchdog.cancel()
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(self._error())
        if self._trailing_wait is not None:
            self._trailing_wait[0].set_exception(self._error())
            self._trailing_wait = None

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.abort()

    def _error(self) -> Exception:
        kind, message = self._failure
        return kind(message)

    def _flush(self) -> None:
        self._flushing = False
        if self._trailing_wait is not None and self.open:
            future, wait = self._trailing_wait
            self._trailing_wait = None
            self._out.append(wait)
            self._waiting.append((future, asyncio.get_running_loop().time()))
        data, self._out = b"".join(self._out), []
        if self.open and self._transport is not None:
            self._transport.write(data)

    def _check(self) -> None:
        """Drop the connection when its oldest call has waited too long (Redis hung or unreachable)."""
        self._watchdog = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._waiting[0][1]
        if waited >= self._timeout_s:
            self._failure = (TimeoutError, "Redis did not answer in time")
            self.close()
        else:
            self._watchdog = loop.call_later(self._timeout_s - waited, self._check)
