"""Operations endpoints (SPEC §2.4): liveness, readiness and metrics."""

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from domain.connections import primary_of
from domain.delivery import Delivery
from domain.errors import BrokerUnavailable

# /ready answers within this even when a dependency hangs, so an orchestrator's probe never times out.
READY_TIMEOUT_S = 2.0


# Prometheus's text format without its `charset=utf-8`, which Litestar adds to every text/* type itself.
METRICS_TYPE = CONTENT_TYPE_LATEST.removesuffix("; charset=utf-8")


class ReadyAnswer(msgspec.Struct, frozen=True):
    status: str
    redis: str
    storage: str
    delivery: str | None = None
    # Over AMQP, the node (host:port) each vhost's connection is on: which node of a cluster it uses.
    deliveryNodes: dict[str, str] | None = None
    # Which Redis server each connection is on (`host:port`): behind Sentinel, the primary it follows
    # (SPEC §11). `pool`: redis-py's pool (logins, replies, rarer calls); `commands`: the ingress's
    # pipelined connection of the status reads and command appends (absent in the broker-auth process).
    redisPrimary: dict[str, str] | None = None


_READY = ResponseSpec(
    data_container=ReadyAnswer,
    description="Redis, storage and (over AMQP) the broker are reachable",
    examples=[
        Example(
            summary="ready",
            value={
                "status": "ready",
                "redis": "ok",
                "storage": "ok",
                "redisPrimary": {"pool": "10.0.0.5:6379", "commands": "10.0.0.5:6379"},
            },
        )
    ],
    generate_examples=False,
)
_UNAVAILABLE = ResponseSpec(
    data_container=ReadyAnswer,
    description="A dependency cannot be reached: Redis, storage or (over AMQP) the broker",
    examples=[
        Example(
            summary="storage down",
            value={"status": "unavailable", "redis": "ok", "storage": "unreachable", "delivery": "ok"},
        )
    ],
    generate_examples=False,
)


@get("/metrics", sync_to_thread=False, media_type=METRICS_TYPE, include_in_schema=False)
def metrics() -> bytes:
    """Prometheus text format: request counts and latencies, authentication, commands."""
    return generate_latest()


_ALIVE = ResponseSpec(
    data_container=dict[str, str],
    description="The process is alive",
    examples=[Example(summary="alive", value={"status": "ok"})],
    generate_examples=False,
)


@get("/health", sync_to_thread=False, responses={200: _ALIVE})
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", responses={200: _READY, 503: _UNAVAILABLE})
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    state = request.app.state
    checks = {"redis": await _check(_ping_redis(state)), "storage": await _check(_select_one(state.engine))}
    # The ingress also answers for the broker it hands customers' messages to; the broker-auth app has none.
    where: dict[str, Any] = {}
    if (delivery := getattr(state, "delivery", None)) is not None:
        checks["delivery"] = await _check(_reachable(delivery))
        where = {"deliveryNodes": nodes} if (nodes := delivery.nodes()) else {}
    ok = all(v == "ok" for v in checks.values())
    answer = {
        "status": "ready" if ok else "unavailable",
        **checks,
        **where,
        "redisPrimary": _primaries(state),
    }
    return Response(answer, status_code=200 if ok else 503)


def _primaries(state: Any) -> dict[str, str]:
    """Where each Redis connection went last: after a failover, the new primary once it was used."""
    primaries = {"pool": primary_of(state.redis)}
    if (hot := getattr(state, "hot", None)) is not None:
        primaries["commands"] = hot.server
    return primaries


async def _ping_redis(state: Any) -> None:
    """Both ways the process reaches Redis: redis-py's pool, and the pipelined connection of the status
    reads and commands, which so knows (and `redisPrimary` names) its server before the first command."""
    await state.redis.ping()
    if (hot := getattr(state, "hot", None)) is not None:
        await hot.ping()


async def _select_one(engine: Any) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _reachable(delivery: Delivery) -> None:
    if not await delivery.reachable():
        raise BrokerUnavailable()


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except Exception:  # any failure means "not ready"; the reason is not a caller's business
        return "unreachable"
    return "ok"
