"""LIVESCORE_REDIS_MIN_REPLICAS (SPEC §11): a command is answered 200/202 only once that many replicas hold
it; when they do not confirm in time the answer is SPEC §2.3's 500, and the command stays in the stream.

The session's server has no replica, so any wait above 0 replicas runs out: the failure answer. With
replicas (behind Sentinel) the commands are answered as usual: tests/e2e/test_sentinel_failover.py.
"""

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from domain.command_log import CommandLog, Replication
from domain.commands import ActivatePackage
from domain.errors import ReplicasUnconfirmed
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM
from ingress.app import create_app
from tests.support import ACTIVATE, TRIGGER, add_package, asgi_client, assert_spec_failure, hold

UNCONFIRMED = ReplicasUnconfirmed.message
# Short: nothing will confirm, and every test of this module waits it out once or twice.
WAIT_MS = 50


@pytest.fixture
async def waiting_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The ingress asking for one replica that never confirms."""
    app: Litestar = create_app(
        dataclasses.replace(settings, redis_min_replicas=1, redis_wait_timeout_ms=WAIT_MS)
    )
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            yield client


@pytest.mark.parametrize("path", [ACTIVATE, TRIGGER])
async def test_a_command_no_replica_confirmed_is_a_failure_yet_stays_in_the_stream(
    waiting_client: httpx.AsyncClient, redis: Redis, engine: Any, path: str
) -> None:
    body = await add_package(engine, active=True)
    response = await waiting_client.post(path, json=body)
    assert_spec_failure(response, UNCONFIRMED)
    entries: Any = await redis.xrange(COMMANDS_STREAM)
    assert len(entries) == 1


async def test_a_refused_command_waits_for_no_replica(waiting_client: httpx.AsyncClient, engine: Any) -> None:
    """Nothing appended (an inactive package's snapshot), nothing to confirm: the usual 400."""
    body = await add_package(engine, active=False)
    response = await waiting_client.post(TRIGGER, json=body)
    assert (response.status_code, response.json()) == (400, {"error": "Package is inactive"})


async def test_an_operators_append_no_replica_confirmed_is_refused(redis: Redis) -> None:
    """`livescore replay --include-snapshots` and `dead retry` append through the same log."""
    log = CommandLog(redis, 1000, replication=Replication(replicas=1, timeout_ms=WAIT_MS))
    with pytest.raises(ReplicasUnconfirmed):
        await log.append_unchecked(ActivatePackage(package_id=1).to_fields())
    assert await redis.xlen(COMMANDS_STREAM) == 1


async def test_zero_replicas_waits_for_none(redis: Redis) -> None:
    log = CommandLog(redis, 1000, replication=Replication(replicas=0, timeout_ms=WAIT_MS))
    await log.append_unchecked(ActivatePackage(package_id=1).to_fields())
    assert await redis.xlen(COMMANDS_STREAM) == 1
