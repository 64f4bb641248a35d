"""Bare Litestar apps served exactly like the ingress: the yardsticks every scenario is compared with.

`inline` is the design this service is measured against on the activation path: the HTTP handler updates
the package's row itself, in one transaction through SQLAlchemy's async engine (the ingress's own engine
set-up), and answers. It checks no credentials, so it is a floor for that design, not its full cost.
"""

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post
from litestar.di import NamedDependency, Provide
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Package
from domain.storage import open_engine

# The stream the XADD baseline appends to; its own name so it never touches the service's streams.
BASELINE_STREAM = "bench:baseline"
# Trimmed like the commands stream is, so a long run cannot grow Redis memory without bound.
BASELINE_MAXLEN = 100_000
# redis-py's default pool size, so the baseline holds as many Redis connections as the ingress may.
REDIS_CONNECTIONS = 100
BARE_PATH = "/bare"
XADD_PATH = "/bare-xadd"
INLINE_PATHS = ("/inline/activate", "/inline/deactivate")
_packages = Package.__table__  # type: ignore[attr-defined]
Answer = dict[str, Any]


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


async def _set_status(engine: AsyncEngine, package_id: int, status: str) -> Answer:
    """Read the row under lock, write it, commit: what an inline handler does for activate/deactivate."""
    async with engine.begin() as conn:
        found = await conn.execute(
            select(_packages.c.status).where(_packages.c.id == package_id).with_for_update()
        )
        if found.scalar_one_or_none() is None:
            return {"success": False, "packageId": package_id}
        await conn.execute(update(_packages).where(_packages.c.id == package_id).values(status=status))
    return {"success": True, "packageId": package_id, "status": status}


@post(INLINE_PATHS[0], status_code=200)
async def inline_activate(engine: NamedDependency[AsyncEngine], request: Request[Any, Any, Any]) -> Answer:
    return await _set_status(engine, await _package_id(request), "active")


@post(INLINE_PATHS[1], status_code=200)
async def inline_deactivate(engine: NamedDependency[AsyncEngine], request: Request[Any, Any, Any]) -> Answer:
    return await _set_status(engine, await _package_id(request), "inactive")


async def _package_id(request: Request[Any, Any, Any]) -> int:
    body: dict[str, Any] = msgspec.json.decode(await request.body())
    return int(body["packageId"])


def create_inline_app(database_url: str) -> Litestar:
    """Activate and deactivate updating storage in the handler (no stream, no worker)."""
    engine = open_engine(database_url)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    def provide_engine() -> AsyncEngine:
        return engine

    return Litestar(
        route_handlers=[inline_activate, inline_deactivate, health],
        dependencies={"engine": Provide(provide_engine, sync_to_thread=False)},
        lifespan=[lifespan],
        logging_config=None,
        openapi_config=None,
    )


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
    """Uvicorn with the ingress's own settings (`domain.http_server.serve`): one process, uvloop, httptools,
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
    """`python -m bench.baseline bare|xadd|inline`, on $PORT, with $REDIS_URL for `xadd` and $DATABASE_URL
    for `inline`."""
    port = int(os.environ["PORT"])
    if argv == ["bare"]:
        serve(create_bare_app(), port)
    elif argv == ["xadd"]:
        serve(create_xadd_app(os.environ["REDIS_URL"]), port)
    elif argv == ["inline"]:
        serve(create_inline_app(os.environ["DATABASE_URL"]), port)
    else:
        print("usage: python -m bench.baseline bare|xadd|inline", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
