"""The worker's own /health and /metrics, served when LIVESCORE_WORKER_PORT is set."""

import dataclasses
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from domain.commands import ActivatePackage
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM
from tests.support import PACKAGE_ID, eventually, free_port, hold
from worker.app import create_app as create_worker


@pytest.mark.usefixtures("package")
async def test_the_worker_serves_health_and_its_metrics(settings: Settings, redis: Redis) -> None:
    port = free_port()
    configured = dataclasses.replace(settings, worker_port=port, host="127.0.0.1")
    async for _ in hold(create_worker(configured, consumer="observed")):
        fields: Any = ActivatePackage(package_id=PACKAGE_ID).to_fields()
        await redis.xadd(COMMANDS_STREAM, fields)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/health")

            async def applied() -> bool:
                text = (await client.get("/metrics")).text
                return 'livescore_commands_applied_total{outcome="completed",type="activate"}' in text

            await eventually(applied, 10)
            metrics = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert "faststream_received_messages_total" in metrics
    assert "livescore_stream_pending" in metrics
