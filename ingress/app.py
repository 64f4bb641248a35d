"""The ingress's composition root: builds the Litestar app from settings."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery import open_delivery
from domain.command_log import CommandLog, Replication, ensure_consumer_group
from domain.connections import open_redis
from domain.delivery import Delivery, QueueFigures, QueueKind
from domain.logs import configure_logging
from domain.package_view import PackageView
from domain.scoreboard import to_message_body
from domain.scoreboard_store import package_live_boards
from domain.settings import Settings
from domain.storage import open_engine, reading
from ingress.auth import Authenticator
from ingress.console import console_router, end_live_streams, open_console
from ingress.errors import EXCEPTION_HANDLERS
from ingress.gateway import Gateway
from ingress.multiplexed_redis import MultiplexedRedis
from ingress.observability import observe
from ingress.openapi import declare_headers
from ingress.operations import health, metrics, ready
from ingress.reply_channel import ReplyListener
from ingress.routes import livescore_router
from ingress.validation import MAX_BODY_BYTES

# ReDoc's bundle (MIT licence, beside it), served from the package: /schema works without the internet.
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static"
# The /schema page: ReDoc from STATIC, no web fonts, no favicon fetched from a CDN.
_REDOC = RedocRenderPlugin(
    path=["/", "/redoc"], js_url=f"{STATIC_PATH}/redoc.standalone.js", google_fonts=False, favicon=""
)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with _resources(app, settings):
            yield

    app = Litestar(
        route_handlers=[
            livescore_router,
            console_router,
            health,
            ready,
            metrics,
            create_static_files_router(STATIC_PATH, [STATIC], include_in_schema=False),
        ],
        middleware=[observe],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="Livescore Customers API", version="1.0.0", render_plugins=[_REDOC]
        ),
        logging_config=None,
    )
    declare_headers(app.openapi_schema)
    _refuse_options(app)
    return app


def _refuse_options(app: Litestar) -> None:
    """Every method a route does not declare answers 405 (SPEC §2.3), OPTIONS included.

    Litestar adds an OPTIONS handler answering 204 to every route and has no switch for it; its routing
    tree raises 405 (with an Allow header of the methods left) for a method it does not hold, so the
    handlers are taken out of the tree once, at no cost per request. tests/ingress/test_validation.py
    notices should a Litestar upgrade change the tree.
    """
    nodes = [app.asgi_router.root_route_map_node]
    while nodes:
        node = nodes.pop()
        node.asgi_handlers.pop("OPTIONS", None)
        nodes.extend(node.children.values())


@asynccontextmanager
async def _resources(app: Litestar, settings: Settings) -> AsyncIterator[None]:
    redis: Redis = open_redis(settings.redis_address)
    # The status read and the command append, on every request, go through one pipelined connection.
    hot = MultiplexedRedis(settings.redis_address)
    engine = open_engine(settings.database_url)
    delivery = open_delivery(settings, redis)
    try:
        await ensure_consumer_group(redis)
        view = PackageView(redis, hot, settings.queue_limit)
        replies = ReplyListener(redis)
        async with replies.running():
            auth = Authenticator(engine, redis, view, settings)
            app.state.redis, app.state.engine, app.state.delivery = redis, engine, delivery
            app.state.hot = hot
            log = CommandLog(redis, settings.commands_maxlen, hot, Replication.of(settings))
            queues = _queues_of(delivery)
            app.state.gateway = Gateway(auth, view, log, replies, settings, queues, _live_of(engine))
            async with open_console(app.state, redis, settings):
                yield
    finally:
        await delivery.close()
        await hot.aclose()
        await redis.aclose()
        await engine.dispose()


def _queues_of(delivery: Delivery) -> Callable[[int], Awaitable[tuple[QueueFigures, QueueFigures]]] | None:
    """Where `status` reads a package's queue figures: with the view, in the same round trip, when the
    queues' figures are kept with it (Redis streams); from the delivery (cached about a second) when not."""
    if delivery.figures_in_view:
        return None

    async def queues(package_id: int) -> tuple[QueueFigures, QueueFigures]:
        fixtures = await delivery.figures(package_id, QueueKind.FIXTURES)
        return fixtures, await delivery.figures(package_id, QueueKind.INCIDENTS)

    return queues


def _live_of(engine: AsyncEngine) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    """Where pull reads a package's live scoreboards: storage, the one truth of the live state (§12)."""

    async def live(package_id: int) -> list[dict[str, Any]]:
        async with reading(engine) as conn:
            boards = await package_live_boards(conn, package_id)
        return [to_message_body(board) for board in boards]

    return live


def main() -> None:
    """Serve the ingress on $PORT (the Procfile's `web`, and `livescore dev`)."""
    from domain.http_server import ConnectionLimits, serve

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    app = create_app(settings)
    limits = ConnectionLimits.of(settings)
    serve(app, settings.host, settings.port, limits, on_exit=lambda: end_live_streams(app))
