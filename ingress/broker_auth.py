"""The broker-auth process's composition root: the HTTP app RabbitMQ asks about customers' AMQP logins.

Customers log in to RabbitMQ with their packages' usernames and passwords (SPEC §9); the service stays
the one holder of those credentials, and RabbitMQ's HTTP auth backend asks this app (the routes are
ingress/broker_routes.py). It is not for customers: it listens on LIVESCORE_BROKER_AUTH_HOST (this machine
by default) and LIVESCORE_BROKER_AUTH_PORT, apart from the Customers API, and only the broker needs to
reach it. `python -m ingress.broker_auth` runs it (the Procfile's `broker-auth`).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import HTTPException
from redis.asyncio import Redis

from domain.broker_access import DENY
from domain.connections import open_redis
from domain.errors import TooManyFailures
from domain.logs import configure_logging
from domain.settings import Settings
from domain.storage import open_engine
from ingress.amqp_logins import AmqpLogins
from ingress.broker_routes import broker_auth_router
from ingress.operations import health, metrics, ready
from ingress.validation import MAX_BODY_BYTES

log = logging.getLogger("ingress.broker_auth")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis: Redis = open_redis(settings.redis_address)
        engine = open_engine(settings.database_url)
        try:
            app.state.redis, app.state.engine = redis, engine
            app.state.logins = AmqpLogins(engine, redis, settings)
            app.state.vhosts = frozenset({settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost})
            yield
        finally:
            await redis.aclose()
            await engine.dispose()

    return Litestar(
        route_handlers=[broker_auth_router, health, ready, metrics],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        logging_config=None,
    )


def _deny(status_code: int) -> Response[str]:
    return Response(DENY, status_code=status_code, media_type=MediaType.TEXT)


def _too_many(_: Request[Any, Any, Any], __: TooManyFailures) -> Response[str]:
    # A refusal like a wrong password: RabbitMQ has no way to say "later", and the customer's client
    # retries on its own.
    return _deny(200)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    return _deny(exc.status_code)


def _failure(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Storage or Redis unreachable, or anything unexpected: RabbitMQ refuses the login or the access
    (and does not cache it); the details go to this log, never a form field."""
    log.error("%s failed: %s", request.url.path, type(exc).__name__, exc_info=exc)
    return _deny(500)


EXCEPTION_HANDLERS = {TooManyFailures: _too_many, HTTPException: _http, Exception: _failure}


def main() -> None:
    """Serve the broker-auth app (the Procfile's `broker-auth`), with the ingress's limits on stalled
    connections and request heads: only RabbitMQ needs it, but anyone who reaches its port could hold
    connections open."""
    from domain.http_server import ConnectionLimits, serve

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    app = create_app(settings)
    serve(app, settings.broker_auth_host, settings.broker_auth_port, ConnectionLimits.of(settings))


if __name__ == "__main__":
    main()
