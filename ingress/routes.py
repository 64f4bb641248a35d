"""The four endpoints of SPEC §2: validate, hand to the gateway, shape the answer.

The body is read by a plain call rather than a Litestar dependency: resolving dependencies costs a task
each per request, which on this path was a fifth of the ingress's CPU (docs/BENCHMARKS.md).
"""

from typing import Any

from litestar import Request, Response, Router, post

from domain.commands import PackageStatus
from ingress import answers
from ingress.gateway import Caller, Gateway
from ingress.validation import parse_credentials


async def caller_of(request: Request[Any, Any, Any]) -> tuple[Caller, Gateway]:
    """Who is calling (validated credentials and client address), and the gateway to serve them."""
    credentials = parse_credentials(await request.body())
    # A 500 answer names the package when the request named a valid one.
    request.state.package_id = credentials.package_id
    client = request.client.host if request.client else "unknown"
    gateway: Gateway = request.app.state.gateway
    return Caller(credentials, client), gateway


@post("/snapshots/trigger", status_code=200)
async def trigger_snapshot(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller, gateway = await caller_of(request)
    return answers.snapshot(caller.credentials, await gateway.trigger_snapshot(caller))


@post("/package/activate")
async def activate_package(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, gateway = await caller_of(request)
    code, body = answers.change(caller.credentials, PackageStatus.ACTIVE, await gateway.activate(caller))
    return Response(body, status_code=code)


@post("/package/deactivate")
async def deactivate_package(request: Request[Any, Any, Any]) -> Response[Any]:
    caller, gateway = await caller_of(request)
    code, body = answers.change(caller.credentials, PackageStatus.INACTIVE, await gateway.deactivate(caller))
    return Response(body, status_code=code)


@post("/package/status", status_code=200)
async def package_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller, gateway = await caller_of(request)
    return answers.status(caller.credentials, await gateway.status(caller))


livescore_router = Router(
    path="/api/livescore",
    route_handlers=[trigger_snapshot, activate_package, deactivate_package, package_status],
)
