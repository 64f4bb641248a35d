"""Opening Redis the same way in every process: retried after a restart, and with room for many requests."""

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

# Connections per process. redis-py's default (100) raises on the 101st concurrent request; its blocking
# pool waits instead but costs CPU on every call (docs/BENCHMARKS.md), so: a plain pool, far above any
# concurrency one process serves.
POOL_SIZE = 1000
# A command that meets a connection Redis closed (a restart) is retried on a fresh one, briefly, so the
# first requests after an outage do not fail on connections that went stale during it.
RETRIES = 3


def open_redis(url: str) -> Redis:
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
    pool = ConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        retry=retry,
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
