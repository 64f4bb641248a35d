"""A worker that starts while Redis is away waits for it instead of exiting: under `livescore dev` an
exiting process stops every other (seen when a Sentinel primary was killed as a worker started)."""

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from domain.command_log import ensure_consumer_group
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from tests.support import hold
from worker import app
from worker.app import create_app as create_worker


async def test_a_worker_started_while_redis_is_unreachable_waits_for_it(
    settings: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = {"left": 2}

    async def unreachable_at_first(client: Redis, stream: str = COMMANDS_STREAM) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await ensure_consumer_group(client, stream)

    monkeypatch.setattr(app, "ensure_consumer_group", unreachable_at_first)
    async for _ in hold(create_worker(settings, consumer="start-test")):
        assert failures["left"] == 0
        for stream in (COMMANDS_STREAM, FIXTURE_UPDATES_STREAM):
            groups: Any = await redis.xinfo_groups(stream)
            assert any(g["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()) for g in groups)
