"""The customer console (SPEC §13): its page, sign-in and sign-out, the package's figures, the API's four
actions, and the live panel's events (paths and event format: docs/CONTRACT.md). Each handler validates,
hands to the gateway or the session store, and answers what the API answers; errors go through the one
mapping (ingress/errors.py).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import MediaType
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import MalformedBody, NotSignedIn
from domain.package_status import PackageStatus
from domain.scoreboard_store import latest_kept_incident
from domain.settings import Settings
from domain.storage import reading
from ingress import bodies
from ingress.console_live import Event, LiveFeed
from ingress.console_sessions import ConsoleSessions, refuse_foreign
from ingress.gateway import Gateway, SignedIn
from ingress.routes import caller_of, read_body

PAGE = (Path(__file__).parent / "static" / "console.html").read_bytes()
# Only this origin's own files: no inline script or style, no other host, no framing by another page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
# An open live stream looks at its session this often: sign-out or a password change ends it within this.
SESSION_CHECK_S = 5.0
# EventSource's wait before it reconnects (an ingress restarted, a connection dropped), in ms.
RECONNECT_MS = 1000


@dataclass(frozen=True, slots=True)
class Console:
    sessions: ConsoleSessions
    live: LiveFeed
    gateway: Gateway


@asynccontextmanager
async def open_console(state: State, redis: Redis, settings: Settings) -> AsyncIterator[None]:
    """The console's sessions and live feed on `state.console`, beside the gateway already there."""
    gateway: Gateway = state.gateway
    live = LiveFeed(gateway.live or _no_boards, _latest_incident(state.engine), redis, settings.heartbeat_s)
    state.console = Console(ConsoleSessions(redis, settings), live, gateway)
    try:
        yield
    finally:
        await live.close()


def end_live_streams(app: Litestar) -> None:
    """From the server's exit signal: every open live stream ends (browsers reconnect to the next ingress
    by themselves), so that the shutdown does not wait for streams that would never end."""
    console: Console | None = getattr(app.state, "console", None)
    if console is not None:
        console.live.end_all_threadsafe()


async def _no_boards(_: int) -> list[dict[str, Any]]:
    return []


def _latest_incident(engine: AsyncEngine) -> Callable[[int], Awaitable[dict[str, Any] | None]]:
    async def latest(fixture_id: int) -> dict[str, Any] | None:
        async with reading(engine) as conn:
            return await latest_kept_incident(conn, fixture_id)

    return latest


def _json(body: Any, status_code: int = 200, cookies: list[Cookie] | None = None) -> Response[Any]:
    return Response(body, status_code=status_code, cookies=cookies, headers={"cache-control": "no-store"})


def _coded(answer: tuple[int, Any]) -> Response[Any]:
    """An answer the API gives with its own status code (200, or 202 for a pending change)."""
    code, body = answer
    return _json(body, code)


async def _session(request: Request[Any, Any, Any]) -> tuple[SignedIn, Console]:
    console: Console = request.app.state.console
    return await console.sessions.find(request), console


async def _changing(request: Request[Any, Any, Any]) -> tuple[SignedIn, Console]:
    """A change's session, once its origin is known to be the console's own."""
    refuse_foreign(request)
    return await _session(request)


@get("/", media_type=MediaType.HTML)
async def page() -> Response[bytes]:
    return Response(PAGE, media_type=MediaType.HTML, headers=PAGE_HEADERS)


@post("/sign-in", status_code=200)
async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    refuse_foreign(request)
    caller, gateway = await caller_of(request)
    signed_in = await gateway.sign_in(caller)
    cookie = await request.app.state.console.sessions.open(signed_in)
    return _json(
        {"success": True, "packageId": caller.package_id, "username": signed_in.username}, 200, [cookie]
    )


@post("/sign-out", status_code=200)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    refuse_foreign(request)
    cookie = await request.app.state.console.sessions.end(request)
    return _json({"success": True, "message": "Signed out"}, 200, [cookie])


@get("/status")
async def status(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, console = await _session(request)
    return _json(bodies.status(caller, await console.gateway.status(caller)))


@post("/activate", status_code=200)
async def activate(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, console = await _changing(request)
    return _coded(bodies.change(caller, PackageStatus.ACTIVE, await console.gateway.activate(caller)))


@post("/deactivate", status_code=200)
async def deactivate(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, console = await _changing(request)
    return _coded(bodies.change(caller, PackageStatus.INACTIVE, await console.gateway.deactivate(caller)))


@post("/snapshot", status_code=200)
async def snapshot(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, console = await _changing(request)
    return _json(bodies.snapshot(caller, await console.gateway.trigger_snapshot(caller)))


@post("/recovery", status_code=200)
async def recovery(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, console = await _changing(request)
    after = _json_object(await read_body(request)).get("after")
    return _json(bodies.recovery(caller, await console.gateway.trigger_recovery(caller, after)))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError:
        raise MalformedBody() from None
    if not isinstance(data, dict):
        raise MalformedBody()
    return data


@get("/live")
async def live(request: Request[Any, Any, Any]) -> ServerSentEvent:
    caller, console = await _session(request)
    return ServerSentEvent(_events(console, caller, request), retry_duration=RECONNECT_MS)


async def _events(
    console: Console, caller: SignedIn, request: Request[Any, Any, Any]
) -> AsyncIterator[ServerSentEventMessage]:
    """The package's live events, until the stream falls too far behind or the session ends."""
    async with console.live.listen(caller.package_id) as queue:
        checked = time.monotonic()
        while True:
            try:
                event: Event | None = await asyncio.wait_for(queue.get(), SESSION_CHECK_S)
            except TimeoutError:
                event = ("ping", {})
            if event is None:
                return
            if time.monotonic() - checked >= SESSION_CHECK_S:
                if not await _still_signed_in(console, request):
                    yield ServerSentEventMessage(data="{}", event="signed-out")
                    return
                checked = time.monotonic()
            yield _message(event)


async def _still_signed_in(console: Console, request: Request[Any, Any, Any]) -> bool:
    try:
        await console.sessions.find(request)
    except NotSignedIn:
        return False
    return True


def _message(event: Event) -> ServerSentEventMessage:
    name, data = event
    if name == "ping":
        return ServerSentEventMessage(data=None, comment="ping")
    return ServerSentEventMessage(data=msgspec.json.encode(data).decode(), event=name)


console_router = Router(
    path="/console",
    route_handlers=[page, sign_in, sign_out, status, activate, deactivate, snapshot, recovery, live],
    include_in_schema=False,
)
