"""Opening Redis the same way in every process: retried, and waiting for a connection when all are busy."""

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

# Connections per process. Beyond them a request waits (up to POOL_WAIT_S) instead of failing: redis-py's
# default pool raises on the 101st concurrent user.
POOL_SIZE = 100
POOL_WAIT_S = 5.0
# A command that meets a connection Redis closed (a restart) is retried on a fresh one, briefly, so the
# first requests after an outage do not fail on connections that went stale during it.
RETRIES = 3


def open_redis(url: str) -> Redis:
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_S,
        retry=retry,
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
