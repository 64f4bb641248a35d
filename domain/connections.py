"""Opening Redis the same way in every process: retried after a restart, and with room for many requests;
through the sentinels, when Redis runs behind Sentinel, following the primary across failovers."""

from dataclasses import dataclass
from typing import Any

from redis.asyncio import ConnectionPool, Redis, SSLConnection
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

# Connections per process. redis-py's default (100) raises on the 101st concurrent request; its blocking
# pool waits instead but costs CPU on every call (docs/BENCHMARKS.md), so: a plain pool, far above any
# concurrency one process serves.
POOL_SIZE = 1000
# A command that meets a connection Redis closed (a restart, a failover) is retried on a fresh one,
# briefly, so the first requests after an outage do not fail on connections that went stale during it.
RETRIES = 3
# Asking a sentinel where the primary is: a sentinel that does not answer within this is skipped for the
# next one, so one sentinel down (the machine lost with the primary) costs a request little.
SENTINEL_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where Redis is: the URL's server, or the primary that `sentinels` know under `master` (the URL
    then still gives the password, database number and TLS)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""

    def describe(self) -> str:
        """For logs and operators: never the password."""
        if self.sentinels:
            nodes = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"primary {self.master!r} of sentinels {nodes}"
        return self.url.rpartition("@")[2]


def open_redis(address: RedisAddress | str) -> Redis:
    """A pooled client of the primary. `address` may be a plain URL."""
    address = address if isinstance(address, RedisAddress) else RedisAddress(address)
    if address.sentinels:
        return _sentinel_client(address)
    pool = ConnectionPool.from_url(address.url, **_pool_options())
    return Redis(connection_pool=pool)


def _pool_options() -> dict[str, Any]:
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
    return {
        "max_connections": POOL_SIZE,
        "retry": retry,
        "retry_on_error": [ConnectionError, TimeoutError],
        "health_check_interval": 30,
    }


def _sentinel_client(address: RedisAddress) -> Redis:
    """redis-py's Sentinel client: each new connection asks the sentinels for the primary; one that meets
    a demoted primary (READONLY) drops and is retried on the new one."""
    options: dict[str, Any] = {k: v for k, v in parse_url(address.url).items() if k not in {"host", "port"}}
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True  # the sentinel pool picks its own TLS connection class from this
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels),
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S},
    )
    options |= _pool_options()
    client: Redis = sentinel.master_for(address.master, redis_class=_SentinelRedis, **options)
    return client


class _SentinelRedis(Redis):
    """Closes the clients of the sentinels with its own pool: redis-py leaves them to the caller."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def primary_of(redis: Redis) -> str:
    """`host:port` of the server the client's connections go to: the primary the sentinels last named,
    or the URL's server ("unknown" before a sentinel client's first connection)."""
    pool = redis.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        found = pool.master_address
        return f"{found[0]}:{found[1]}" if found else "unknown"
    options = pool.connection_kwargs
    if "path" in options:
        return str(options["path"])
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
