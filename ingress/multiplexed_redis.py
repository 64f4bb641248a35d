"""The ingress's hot-path connection to Redis: scripts over one multiplexed, pipelined connection.

redis-py's per-command client CPU (its pool, retry wrapper, timeouts and stream reader) was a large
share of a status request (figures: docs/BENCHMARKS.md, `python -m bench.redis_clients`). The ingress's
two hot scripts (the status read and the command append) therefore go through `MultiplexedRedis`: one
connection, every call of a loop iteration written in one go, replies parsed by hiredis and matched in
order — a fraction of redis-py's cost a call. It is a `ScriptRunner` (domain/scripts/runner.py) like
redis-py's; everything else (Pub/Sub, logins, rarer calls, and the worker and the CLI) uses redis-py.
"""

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError, TimeoutError

from domain.scripts.runner import Arg, LuaScript

# Within this, a command's reply must have arrived, else the connection is dropped and every call on it
# fails (redis-py's socket timeout plays this part for the rest).
TIMEOUT_S = 5.0


class MultiplexedRedis:
    """Scripts over one pipelined connection, opened on first use and again after it is lost.

    A call that meets a lost connection is tried once more on a new one, as redis-py's retry does: a
    restarted Redis costs the first request nothing. Failures raise redis-py's ConnectionError and
    TimeoutError, so callers map them like any other Redis failure.
    """

    def __init__(self, url: str, timeout_s: float = TIMEOUT_S) -> None:
        self._options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self._timeout_s = timeout_s
        self._connection: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None

    async def run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        command = pack(b"EVALSHA", script.sha, len(keys), *keys, *args)
        connection = self._connection
        if connection is None or not connection.open:
            connection = await self._connected()
        try:
            reply = await connection.call(command)
        except ConnectionError:  # lost since it was last used (a restart): once more, on a new one
            reply = await (await self._connected()).call(command)
        if type(reply) is ResponseError:
            if str(reply).startswith("NOSCRIPT"):
                return await self._eval(script, keys, args)
            raise reply
        return reply

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _eval(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """The script's source, which Redis then keeps: the next EVALSHA finds it."""
        connection = await self._connected()
        reply = await connection.call(pack(b"EVAL", script.source, len(keys), *keys, *args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _connected(self) -> "_Connection":
        if self._connection is not None and self._connection.open:
            return self._connection
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        opening = self._opening
        try:
            # Shielded: one caller giving up must not cancel the connection the others wait for.
            self._connection = await asyncio.shield(opening)
        finally:
            if self._opening is opening and opening.done():
                self._opening = None
        return self._connection

    async def _open(self) -> "_Connection":
        loop = asyncio.get_running_loop()
        options = self._options
        try:
            async with asyncio.timeout(self._timeout_s):
                if "path" in options:
                    _, connection = await loop.create_unix_connection(
                        lambda: _Connection(self._timeout_s), options["path"]
                    )
                else:
                    secure = options.get("connection_class") is SSLConnection
                    tls = ssl.create_default_context() if secure else None
                    _, connection = await loop.create_connection(
                        lambda: _Connection(self._timeout_s),
                        options.get("host", "localhost"),
                        options.get("port", 6379),
                        ssl=tls,
                    )
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot connect to Redis: {type(exc).__name__}") from exc
        for command in _handshake(options):
            reply = await connection.call(command)
            if isinstance(reply, ResponseError):
                connection.close()
                raise reply
        return connection


def _handshake(options: dict[str, Any]) -> list[bytes]:
    commands = []
    if options.get("password"):
        user = [options["username"]] if options.get("username") else []
        commands.append(pack(b"AUTH", *user, options["password"]))
    if options.get("db"):
        commands.append(pack(b"SELECT", options["db"]))
    return commands


def pack(*parts: Arg) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._reader = hiredis.Reader(replyError=ResponseError, protocolError=InvalidResponse)
        # Calls awaiting a reply, in the order their commands were written, with the time of each.
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
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
            if not self._out:  # the first of this loop iteration: write them all once it ends
                loop.call_soon(self._flush)
            self._out.append(command)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout_s, self._check)
        return future

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

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.abort()

    def _error(self) -> Exception:
        kind, message = self._failure
        return kind(message)

    def _flush(self) -> None:
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
