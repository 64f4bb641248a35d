"""Bare Litestar apps served exactly like the ingress: the yardsticks every scenario is compared with."""

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from redis.asyncio import BlockingConnectionPool, Redis

# The stream the XADD baseline appends to; its own name so it never touches the service's streams.
BASELINE_STREAM = "bench:baseline"
# Trimmed like the commands stream is, so a long run cannot grow Redis memory without bound.
BASELINE_MAXLEN = 100_000
# redis-py's default pool size, so the baseline holds as many Redis connections as the ingress may.
REDIS_CONNECTIONS = 100
BARE_PATH = "/bare"
XADD_PATH = "/bare-xadd"


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@post(BARE_PATH, status_code=200, sync_to_thread=False)
def bare() -> dict[str, Any]:
    return {"success": True, "packageId": 1001, "status": "active"}


@post(XADD_PATH, status_code=200)
async def bare_xadd(redis: NamedDependency[Redis]) -> dict[str, Any]:
    await redis.xadd(BASELINE_STREAM, {"type": "bench", "packageId": "1001"}, maxlen=BASELINE_MAXLEN)
    return {"success": True, "packageId": 1001, "status": "active"}


def create_bare_app() -> Litestar:
    """A POST route returning a small JSON dict, and nothing else."""
    return Litestar(route_handlers=[bare, health], logging_config=None, openapi_config=None)


def create_xadd_app(redis_url: str) -> Litestar:
    """The bare route plus one awaited XADD through redis.asyncio, the floor of any enqueueing endpoint."""
    # redis-py's asyncio pool refuses the 101st concurrent command (MaxConnectionsError) instead of
    # waiting for a connection; a blocking pool of that size waits, as a correct endpoint must.
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_CONNECTIONS)
    client: Redis = Redis(connection_pool=pool)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()
            await pool.aclose()  # given to the client, so not closed by it

    def provide_redis() -> Redis:
        return client

    return Litestar(
        route_handlers=[bare_xadd, health],
        dependencies={"redis": Provide(provide_redis, sync_to_thread=False)},
        lifespan=[lifespan],
        logging_config=None,
        openapi_config=None,
    )


def serve(app: Litestar, port: int) -> None:
    """Uvicorn with the ingress's own settings (`ingress.server.serve`): one process, uvloop, httptools,
    no forwarded headers. Without the ingress's request timer: its cost is the ingress's to carry."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
    )


def main(argv: list[str]) -> int:
    """`python -m bench.baseline bare|xadd`, on $PORT, with $REDIS_URL for `xadd`."""
    port = int(os.environ["PORT"])
    if argv == ["bare"]:
        serve(create_bare_app(), port)
    elif argv == ["xadd"]:
        serve(create_xadd_app(os.environ["REDIS_URL"]), port)
    else:
        print("usage: python -m bench.baseline bare|xadd", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
