"""Activation with no worker running: 202, and the command waits safely in the stream."""

import dataclasses
import uuid
from typing import Any

import httpx

from domain.settings import Settings
from ingress.app import create_app
from tests.support import ACTIVATE, DEACTIVATE, PACKAGE_ID, STATUS, USERNAME, asgi_client, eventually, hold
from worker.app import create_app as create_worker


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body)


async def test_without_a_worker_the_answer_is_202_and_the_command_applies_once_one_runs(
    settings: Settings, package: dict[str, Any]
) -> None:
    # A short timeout keeps the test quick; the answer's shape does not depend on it.
    app = create_app(dataclasses.replace(settings, command_timeout_ms=300))
    async for _ in hold(app.lifespan()):
        await _pending_then_applied(app, settings, package)


async def _pending_then_applied(app: Any, settings: Settings, package: dict[str, Any]) -> None:
    async with asgi_client(app) as client:
        pending = await post(client, ACTIVATE, package)
        assert pending.status_code == 202
        body = pending.json()
        assert body == {
            "success": True,
            "message": "Package activation accepted and pending",
            "packageId": PACKAGE_ID,
            "username": USERNAME,
            "commandId": body["commandId"],
        }
        uuid.UUID(body["commandId"])
        assert (await post(client, STATUS, package)).json()["status"] == "inactive"
        async for _ in hold(create_worker(settings, consumer="late-worker")):

            async def active() -> bool:
                return bool((await post(client, STATUS, package)).json()["status"] == "active")

            # Generous: the late worker applies the activation at once, but its 200 waits for the
            # initial image (at most 0.6 of the command timeout, SPEC §12) while it is still starting.
            await eventually(active, 20, "the late worker applied the activation")


async def test_a_pending_deactivation_says_so(settings: Settings, package: dict[str, Any]) -> None:
    app = create_app(dataclasses.replace(settings, command_timeout_ms=300))
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            response = await post(client, DEACTIVATE, package)
    assert response.status_code == 202
    assert response.json()["message"] == "Package deactivation accepted and pending"
    uuid.UUID(response.json()["commandId"])
