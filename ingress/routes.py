"""The four endpoints of SPEC §2: validate, hand to the gateway, shape the answer."""

from typing import Any

from litestar import Request, Response, Router, post
from litestar.di import NamedDependency, Provide

from domain.commands import PackageStatus
from ingress import answers
from ingress.gateway import Gateway
from ingress.validation import Credentials, parse_credentials


async def provide_credentials(request: Request[Any, Any, Any]) -> Credentials:
    credentials = parse_credentials(await request.body())
    # A 500 answer names the package when the request named a valid one.
    request.state.package_id = credentials.package_id
    return credentials


def provide_client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def provide_gateway(request: Request[Any, Any, Any]) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@post("/snapshots/trigger", status_code=200)
async def trigger_snapshot(
    credentials: NamedDependency[Credentials], client: NamedDependency[str], gateway: NamedDependency[Gateway]
) -> dict[str, Any]:
    request_id = await gateway.trigger_snapshot(credentials, client)
    return answers.snapshot(credentials, request_id)


@post("/package/activate")
async def activate_package(
    credentials: NamedDependency[Credentials], client: NamedDependency[str], gateway: NamedDependency[Gateway]
) -> Response[Any]:
    result = await gateway.activate(credentials, client)
    code, body = answers.change(credentials, PackageStatus.ACTIVE, result)
    return Response(body, status_code=code)


@post("/package/deactivate")
async def deactivate_package(
    credentials: NamedDependency[Credentials], client: NamedDependency[str], gateway: NamedDependency[Gateway]
) -> Response[Any]:
    result = await gateway.deactivate(credentials, client)
    code, body = answers.change(credentials, PackageStatus.INACTIVE, result)
    return Response(body, status_code=code)


@post("/package/status", status_code=200)
async def package_status(
    credentials: NamedDependency[Credentials], client: NamedDependency[str], gateway: NamedDependency[Gateway]
) -> dict[str, Any]:
    status = await gateway.status(credentials, client)
    return answers.status(credentials, status)


livescore_router = Router(
    path="/api/livescore",
    route_handlers=[trigger_snapshot, activate_package, deactivate_package, package_status],
    dependencies={
        "credentials": Provide(provide_credentials),
        "client": Provide(provide_client, sync_to_thread=False),
        "gateway": Provide(provide_gateway, sync_to_thread=False),
    },
)
