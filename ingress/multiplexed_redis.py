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
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from domain.connections import SENTINEL_TIMEOUT_S, RedisAddress
from domain.scripts.runner import Arg, LuaScript
from ingress.resp_connection import RespConnection, pack

# Within this, a command's reply must have arrived, else the connection is dropped and every call on it
# fails (redis-py's socket timeout plays this part for the rest).
TIMEOUT_S = 5.0
# How a demoted primary (now a replica) refuses a write.
_DEMOTED = "READONLY"


class MultiplexedRedis:
    """Scripts over one pipelined connection, opened on first use and again after it is lost.

    A call that meets a lost connection is tried once more on a new one, as redis-py's retry does: a
    restarted Redis costs the first request nothing. Behind Sentinel every new connection goes to the
    primary the sentinels name (`SENTINEL get-master-addr-by-name`), and a reply of a demoted primary
    (READONLY) drops the connection like a loss, so the call is tried on the new primary. Failures raise
    redis-py's ConnectionError and TimeoutError, so callers map them like any other Redis failure.
    """

    def __init__(self, address: RedisAddress | str, timeout_s: float = TIMEOUT_S) -> None:
        address = address if isinstance(address, RedisAddress) else RedisAddress(address)
        self._options: dict[str, Any] = parse_url(address.url)  # type: ignore[no-untyped-call]
        self._primaries = _Primaries(address) if address.sentinels else None
        self._timeout_s = timeout_s
        self._connection: RespConnection | None = None
        self._opening: asyncio.Task[RespConnection] | None = None
        # host:port (or socket path) of the server the connection was last opened to.
        self.server = "unknown" if address.sentinels else _server_of(self._options)

    async def run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        [reply] = await self._replies(pack(b"EVALSHA", script.sha, len(keys), *keys, *args))
        return await self._checked(reply, script, keys, args)

    async def run_replicated(
        self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """The script's reply, and how many replicas confirmed its writes within `timeout_ms` (WAIT,
        written right after it on the same connection: no round trip of its own, and one WAIT serves
        every call written in the same loop iteration)."""
        wait = pack(b"WAIT", replicas, timeout_ms)
        reply, confirmed = await self._replies(pack(b"EVALSHA", script.sha, len(keys), *keys, *args), wait)
        if type(reply) is ResponseError and str(reply).startswith("NOSCRIPT"):
            # Run (and so loaded) by EVAL, with its WAIT again: on the same connection, or the WAIT would
            # count the writes of another.
            source = pack(b"EVAL", script.source, len(keys), *keys, *args)
            reply, confirmed = await self._replies(source, wait)
        if isinstance(confirmed, ResponseError):
            raise confirmed
        return await self._checked(reply, script, keys, args), int(confirmed)

    async def ping(self) -> None:
        """A round trip on the connection, opened first if need be: then `server` names where it goes
        (behind Sentinel it is unknown until a connection was opened)."""
        [reply] = await self._replies(pack(b"PING"))
        if isinstance(reply, ResponseError):
            raise reply

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._primaries is not None:
            await self._primaries.aclose()

    async def _replies(self, command: bytes, wait: bytes | None = None) -> list[Any]:
        connection = self._connection
        if connection is None or not connection.open:
            connection = await self._connected()
        try:
            return await _replies_on(connection, command, wait)
        except ConnectionError:  # lost since last used (a restart, a failover): once more, on a new one
            return await _replies_on(await self._connected(), command, wait)

    async def _checked(self, reply: Any, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        if type(reply) is ResponseError:
            if str(reply).startswith("NOSCRIPT"):
                return await self._eval(script, keys, args)
            raise reply
        return reply

    async def _eval(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """The script's source, which Redis then keeps: the next EVALSHA finds it."""
        connection = await self._connected()
        reply = await connection.call(pack(b"EVAL", script.source, len(keys), *keys, *args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _connected(self) -> "RespConnection":
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

    async def _open(self) -> "RespConnection":
        options = self._options
        if self._primaries is not None:
            host, port = await self._primaries.current()
            options = {**options, "host": host, "port": port}
        try:
            async with asyncio.timeout(self._timeout_s):
                connection = await self._connect(options)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot connect to Redis: {type(exc).__name__}") from exc
        for command in _handshake(options):
            reply = await connection.call(command)
            if isinstance(reply, ResponseError):
                connection.close()
                raise reply
        self.server = _server_of(options)
        return connection

    async def _connect(self, options: dict[str, Any]) -> "RespConnection":
        loop = asyncio.get_running_loop()
        if "path" in options:
            _, connection = await loop.create_unix_connection(
                lambda: RespConnection(self._timeout_s), options["path"]
            )
            return connection
        secure = options.get("connection_class") is SSLConnection
        tls = ssl.create_default_context() if secure else None
        _, connection = await loop.create_connection(
            lambda: RespConnection(self._timeout_s),
            options.get("host", "localhost"),
            options.get("port", 6379),
            ssl=tls,
        )
        return connection


async def _replies_on(connection: "RespConnection", command: bytes, wait: bytes | None) -> list[Any]:
    if wait is None:
        replies = [await connection.call(command)]
    else:
        replies = list(await asyncio.gather(*connection.call_replicated(command, wait)))
    if any(type(reply) is ResponseError and str(reply).startswith(_DEMOTED) for reply in replies):
        # A primary demoted to a replica (Sentinel turned it after a failover) refuses writes: drop it.
        connection.close()
        raise ConnectionError("the Redis primary became a replica")
    return replies


class _Primaries:
    """Where the sentinels say the primary is: asked of each sentinel in turn until one answers."""

    def __init__(self, address: RedisAddress) -> None:
        self._master = address.master
        self._sentinels = [_sentinel(host, port) for host, port in address.sentinels]

    async def current(self) -> tuple[str, int]:
        for sentinel in self._sentinels:
            try:
                found: Any = await sentinel.sentinel_get_master_addr_by_name(self._master)
            except (ConnectionError, TimeoutError, OSError):
                continue  # this sentinel is down (lost with its machine): ask the next
            if found:
                host, port = found
                return _text(host), int(port)
        raise ConnectionError(f"no sentinel names a primary for {self._master!r}")

    async def aclose(self) -> None:
        for sentinel in self._sentinels:
            await sentinel.aclose()


def _sentinel(host: str, port: int) -> Redis:
    timeout = SENTINEL_TIMEOUT_S
    return Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _server_of(options: dict[str, Any]) -> str:
    if "path" in options:
        return str(options["path"])
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"


def _handshake(options: dict[str, Any]) -> list[bytes]:
    commands = []
    if options.get("password"):
        user = [options["username"]] if options.get("username") else []
        commands.append(pack(b"AUTH", *user, options["password"]))
    if options.get("db"):
        commands.append(pack(b"SELECT", options["db"]))
    return commands
