"""Per-request observability: a request id on every log line and response, and request metrics.

A plain ASGI middleware, not Litestar's: it runs on every request, including the hot status path.
"""

import functools
import itertools
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

from domain.logs import request_id
from domain.messages import new_ids
from ingress.metrics import LATENCY, REQUESTS

# Paths counted under their own label; the rest share "other".
KNOWN_PATHS = frozenset(
    {
        "/api/livescore/snapshots/trigger",
        "/api/livescore/package/activate",
        "/api/livescore/package/deactivate",
        "/api/livescore/package/status",
        "/health",
        "/ready",
        "/metrics",
    }
)
# An incoming X-Request-ID is kept (to follow a request across services) when it is this short or less,
# and made of visible ASCII only: anything else would be echoed altered (HTTP headers are bytes, log
# lines text) or could break a log line; such a request gets an id of ours instead.
MAX_REQUEST_ID = 64
_VISIBLE_ASCII = bytes(range(0x21, 0x7F))


def observe(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = _incoming_id(scope) or _next_id()
        token = request_id.set(rid)
        start, status = time.perf_counter(), 500
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            requests, latency = _series(endpoint, status)
            requests.inc()
            latency.observe(time.perf_counter() - start)
            request_id.reset(token)

    return middleware


# Request ids: this process's random prefix and a counter — unique, and far cheaper than a uuid4 each.
_ID_PREFIX = new_ids(1)[0].decode()[:24]
_ids = itertools.count(1)


def _next_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):012x}"


@functools.cache
def _series(endpoint: str, status: int) -> tuple[Counter, Histogram]:
    """The metric children of one endpoint and status, looked up once (labels() costs µs per call)."""
    return REQUESTS.labels(endpoint, str(status)), LATENCY.labels(endpoint)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        # translate() deletes the visible characters: a valid id leaves nothing behind.
        if (
            name == b"x-request-id"
            and 0 < len(value) <= MAX_REQUEST_ID
            and not value.translate(None, _VISIBLE_ASCII)
        ):
            return value.decode("ascii")
    return None
