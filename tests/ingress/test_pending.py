"""Activation with no worker running: 202, and the command waits safely in the stream."""

import asyncio
import uuid
from typing import Any

import httpx

from domain.settings import Settings
from tests.conftest import PACKAGE_ID, USERNAME, asgi_client, hold
from worker.app import create_app as create_worker

ACTIVATE, STATUS = "/api/livescore/package/activate", "/api/livescore/package/status"


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body)


async def test_without_a_worker_the_answer_is_202_and_the_command_applies_once_one_runs(
    app: Any, settings: Settings, package: dict[str, Any]
) -> None:
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
            for _attempt in range(100):
                if (await post(client, STATUS, package)).json()["status"] == "active":
                    break
                await asyncio.sleep(0.05)
            assert (await post(client, STATUS, package)).json()["status"] == "active"
