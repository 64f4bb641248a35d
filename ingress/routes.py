"""The endpoints of SPEC §2 (and §12's pull and recovery): validate, hand to the gateway, shape the answer.

The body is read by a plain call rather than a Litestar dependency: resolving dependencies costs a task
each per request, a visible share of the ingress's CPU on this path (docs/BENCHMARKS.md).
"""

from typing import Any

from litestar import Request, Router, post
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from domain.package_status import PackageStatus
from ingress import bodies
from ingress.bodies import ChangeAnswer, LiveAnswer, SnapshotAnswer, StatusAnswer
from ingress.errors import PACKAGE_ID_KEY
from ingress.gateway import Caller, Gateway
from ingress.json_response import JSONAnswer
from ingress.openapi import (
    LIVE_RESPONSES,
    RECOVERY_RESPONSES,
    SNAPSHOT_RESPONSES,
    STATUS_RESPONSES,
    CredentialsOperation,
    RecoveryOperation,
    change_responses,
)
from ingress.validation import MAX_BODY_BYTES, Credentials, parse_credentials, parse_recovery


async def caller_of(request: Request[Any, Any, Any]) -> tuple[Caller, Gateway]:
    """Who is calling (validated credentials and client address), and the gateway to serve them."""
    return called_by(request, parse_credentials(await read_body(request)))


def called_by(request: Request[Any, Any, Any], credentials: Credentials) -> tuple[Caller, Gateway]:
    # A 500 answer names the package when the request named a valid one.
    request.scope[PACKAGE_ID_KEY] = credentials.package_id  # type: ignore[literal-required]
    gateway: Gateway = request.app.state.gateway
    return Caller(credentials, client_address(request, gateway.settings.client_ip_header)), gateway


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The body, refused with 413 beyond MAX_BODY_BYTES. What `request.body()` does, without its async
    generator and header parsing: a few µs of every request (docs/BENCHMARKS.md)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event: Any = await request.receive()
        if event["type"] == "http.disconnect":
            raise ClientException("client disconnected before sending its body")
        chunk: bytes = event.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
        chunks.append(chunk)
        if not event.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def client_address(request: Request[Any, Any, Any], trusted_header: str) -> str:
    """The address the brute-force limit counts: the connection's, or the trusted proxy's header.

    Of the header, the last address of its last line: what the proxy itself appended. Lines and addresses
    before it came from the client, who chooses them freely.
    """
    if trusted_header and (lines := request.headers.getall(trusted_header, None)):
        return lines[-1].rsplit(",", 1)[-1].strip()
    client = request.client
    return client.host if client else "unknown"


@post(
    "/snapshots/trigger", status_code=200, operation_class=CredentialsOperation, responses=SNAPSHOT_RESPONSES
)
async def trigger_snapshot(request: Request[Any, Any, Any]) -> JSONAnswer[SnapshotAnswer]:
    caller, gateway = await caller_of(request)
    return JSONAnswer(bodies.snapshot(caller.credentials, await gateway.trigger_snapshot(caller)))


@post("/recovery/trigger", status_code=200, operation_class=RecoveryOperation, responses=RECOVERY_RESPONSES)
async def trigger_recovery(request: Request[Any, Any, Any]) -> JSONAnswer[SnapshotAnswer]:
    credentials, after = parse_recovery(await read_body(request))
    caller, gateway = called_by(request, credentials)
    return JSONAnswer(bodies.recovery(credentials, await gateway.trigger_recovery(caller, after)))


@post(
    "/package/activate",
    status_code=200,
    operation_class=CredentialsOperation,
    responses=change_responses("activation"),
)
async def activate_package(request: Request[Any, Any, Any]) -> JSONAnswer[ChangeAnswer]:
    caller, gateway = await caller_of(request)
    code, body = bodies.change(caller.credentials, PackageStatus.ACTIVE, await gateway.activate(caller))
    return JSONAnswer(body, status_code=code)  # type: ignore[arg-type]


@post(
    "/package/deactivate",
    status_code=200,
    operation_class=CredentialsOperation,
    responses=change_responses("deactivation"),
)
async def deactivate_package(request: Request[Any, Any, Any]) -> JSONAnswer[ChangeAnswer]:
    caller, gateway = await caller_of(request)
    code, body = bodies.change(caller.credentials, PackageStatus.INACTIVE, await gateway.deactivate(caller))
    return JSONAnswer(body, status_code=code)  # type: ignore[arg-type]


@post("/package/status", status_code=200, operation_class=CredentialsOperation, responses=STATUS_RESPONSES)
async def package_status(request: Request[Any, Any, Any]) -> JSONAnswer[StatusAnswer]:
    caller, gateway = await caller_of(request)
    return JSONAnswer(bodies.status(caller.credentials, await gateway.status(caller)))


@post("/fixtures/live", status_code=200, operation_class=CredentialsOperation, responses=LIVE_RESPONSES)
async def live_fixtures(request: Request[Any, Any, Any]) -> JSONAnswer[LiveAnswer]:
    caller, gateway = await caller_of(request)
    return JSONAnswer(bodies.live(caller.credentials, await gateway.live_fixtures(caller)))


livescore_router = Router(
    path="/api/livescore",
    route_handlers=[
        trigger_snapshot,
        activate_package,
        deactivate_package,
        package_status,
        live_fixtures,
        trigger_recovery,
    ],
)
