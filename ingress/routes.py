"""The four endpoints of SPEC §2: validate, hand to the gateway, shape the answer.

The body is read by a plain call rather than a Litestar dependency: resolving dependencies costs a task
each per request, which on this path was a fifth of the ingress's CPU (docs/BENCHMARKS.md).
"""

from typing import Any

from litestar import Request, Response, Router, post

from domain.commands import PackageStatus
from ingress import answers
from ingress.answers import ChangeAnswer, SnapshotAnswer, StatusAnswer
from ingress.errors import PACKAGE_ID_KEY
from ingress.gateway import Caller, Gateway
from ingress.openapi import SNAPSHOT_RESPONSES, STATUS_RESPONSES, CredentialsOperation, change_responses
from ingress.validation import parse_credentials


async def caller_of(request: Request[Any, Any, Any]) -> tuple[Caller, Gateway]:
    """Who is calling (validated credentials and client address), and the gateway to serve them."""
    credentials = parse_credentials(await request.body())
    # A 500 answer names the package when the request named a valid one.
    request.scope[PACKAGE_ID_KEY] = credentials.package_id  # type: ignore[literal-required]
    gateway: Gateway = request.app.state.gateway
    return Caller(credentials, client_address(request, gateway.settings.client_ip_header)), gateway


def client_address(request: Request[Any, Any, Any], trusted_header: str) -> str:
    """The address the brute-force limit counts: the connection's, or the trusted proxy's header."""
    if trusted_header and (value := request.headers.get(trusted_header)):
        return value.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else "unknown"


@post(
    "/snapshots/trigger", status_code=200, operation_class=CredentialsOperation, responses=SNAPSHOT_RESPONSES
)
async def trigger_snapshot(request: Request[Any, Any, Any]) -> SnapshotAnswer:
    caller, gateway = await caller_of(request)
    return answers.snapshot(caller.credentials, await gateway.trigger_snapshot(caller))


@post(
    "/package/activate",
    status_code=200,
    operation_class=CredentialsOperation,
    responses=change_responses("activation"),
)
async def activate_package(request: Request[Any, Any, Any]) -> Response[ChangeAnswer]:
    caller, gateway = await caller_of(request)
    code, body = answers.change(caller.credentials, PackageStatus.ACTIVE, await gateway.activate(caller))
    return Response(body, status_code=code)  # type: ignore[arg-type]


@post(
    "/package/deactivate",
    status_code=200,
    operation_class=CredentialsOperation,
    responses=change_responses("deactivation"),
)
async def deactivate_package(request: Request[Any, Any, Any]) -> Response[ChangeAnswer]:
    caller, gateway = await caller_of(request)
    code, body = answers.change(caller.credentials, PackageStatus.INACTIVE, await gateway.deactivate(caller))
    return Response(body, status_code=code)  # type: ignore[arg-type]


@post("/package/status", status_code=200, operation_class=CredentialsOperation, responses=STATUS_RESPONSES)
async def package_status(request: Request[Any, Any, Any]) -> StatusAnswer:
    caller, gateway = await caller_of(request)
    return answers.status(caller.credentials, await gateway.status(caller))


livescore_router = Router(
    path="/api/livescore",
    route_handlers=[trigger_snapshot, activate_package, deactivate_package, package_status],
)
