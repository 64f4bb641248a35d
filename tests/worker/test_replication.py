"""A worker applies a command only once LIVESCORE_REDIS_MIN_REPLICAS replicas hold it (worker/replication.py).

The session's server has no replica: a command in its stream is never confirmed, and one that is not in
it was read from a primary lost since. With replicas, behind Sentinel: tests/e2e/test_sentinel_failover.py.
"""

import asyncio
import dataclasses

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import ActivatePackage
from domain.errors import ReplicasUnconfirmed
from domain.settings import Settings
from tests.support import append_command, worker_resources
from worker.replication import replicated


def waiting(settings: Settings, replicas: int) -> Settings:
    return dataclasses.replace(settings, redis_min_replicas=replicas, redis_wait_timeout_ms=20)


async def test_without_min_replicas_nothing_is_asked(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    res = worker_resources(waiting(settings, 0), engine, redis)
    assert await replicated(res, [(b"1-0", {})])


async def test_a_command_this_redis_does_not_hold_is_not_applied(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    res = worker_resources(waiting(settings, 1), engine, redis)
    assert not await replicated(res, [(b"1-0", {})])


async def test_a_command_no_replica_holds_waits_until_the_worker_stops(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    res = worker_resources(waiting(settings, 1), engine, redis)
    entry_id = await append_command(redis, ActivatePackage(package_id=1).to_fields())
    asking = asyncio.create_task(replicated(res, [(entry_id, {})]))
    await asyncio.sleep(0.3)
    assert not asking.done()
    res.stopping.set()
    with pytest.raises(ReplicasUnconfirmed):
        await asking
