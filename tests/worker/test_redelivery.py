"""Commands that were delivered and not acknowledged: claimed, retried, or dead-lettered."""

import dataclasses
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.command_log import ensure_consumer_group
from domain.commands import ActivatePackage, TriggerSnapshot
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, DEAD_LETTERS_STREAM, WORKERS_GROUP
from tests.fixture_factory import fixture
from tests.support import (
    PACKAGE_ID,
    add_fixtures,
    add_package,
    append_command,
    eventually,
    hold,
    pending_commands,
    queue_messages,
    read_commands,
    stored_package,
    worker_resources,
)
from worker import snapshots
from worker.app import create_app as create_worker
from worker.handlers import apply_commands


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Claims after 150 ms instead of 30 s, dead letters after 3 deliveries."""
    return dataclasses.replace(settings, claim_idle_ms=150, max_deliveries=3)


@pytest.mark.usefixtures("package")
async def test_a_command_left_pending_by_a_dead_worker_is_applied_by_another(
    quick: Settings, redis: Redis, engine: AsyncEngine
) -> None:
    await ensure_consumer_group(redis)
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    await read_commands(redis, consumer="worker-that-died")
    async for _ in hold(create_worker(quick, consumer="survivor")):
        await eventually(lambda: _pending_is(redis, 0))
    assert (await stored_package(engine)).status == "active"


async def _pending_is(redis: Redis, count: int) -> bool:
    return await pending_commands(redis) == count


@pytest.mark.usefixtures("package")
async def test_a_poison_entry_is_dead_lettered_and_later_commands_still_apply(
    quick: Settings, redis: Redis, engine: AsyncEngine
) -> None:
    await ensure_consumer_group(redis)
    poison_id = await redis.xadd(COMMANDS_STREAM, {"type": b"\xff", "packageId": b"x"})
    async for _ in hold(create_worker(quick, consumer="w1")):
        await eventually(lambda: _dead_letters(redis))
        await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
        await eventually(lambda: _pending_is(redis, 0))
        await eventually(lambda: _is_active(engine))
    letters: Any = await redis.xrange(DEAD_LETTERS_STREAM)
    assert len(letters) == 1
    letter = letters[0][1]
    assert letter[b"originalId"] == poison_id
    assert letter[b"deliveries"] == b"3"
    assert letter[b"error"].startswith(b"Stream entry is not a valid command")
    assert letter[b"type"] == b"\xff"


async def _dead_letters(redis: Redis) -> bool:
    return bool(await redis.xlen(DEAD_LETTERS_STREAM))


async def _is_active(engine: AsyncEngine) -> bool:
    return bool((await stored_package(engine)).status == "active")


class Crash(Exception):
    """The worker dying in the middle of a fan-out."""


async def test_a_snapshot_interrupted_midway_is_finished_by_another_worker_with_one_completion(
    quick: Settings, redis: Redis, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(i) for i in range(1, 351)])
    await ensure_consumer_group(redis)
    command = TriggerSnapshot(package_id=PACKAGE_ID)
    await append_command(redis, command.to_fields())
    doomed = dataclasses.replace(
        worker_resources(quick, engine, redis, "doomed", queue_limit=50000), snapshot_chunk=100
    )
    real_send, calls = snapshots.send_chunk, []

    async def send_then_die(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise Crash("killed mid-snapshot")
        return await real_send(*args)

    monkeypatch.setattr(snapshots, "send_chunk", send_then_die)
    batch = await apply_commands(doomed, await read_commands(redis, consumer="doomed"))
    monkeypatch.undo()
    assert list(batch.failed.values()) == ["Crash: killed mid-snapshot"]
    assert len(await queue_messages(redis)) == 200

    async for _ in hold(create_worker(quick, consumer="survivor")):
        await eventually(lambda: _pending_is(redis, 0))
    messages = await queue_messages(redis)
    completions = [m for m in messages if m.header.MessageType == 100]
    assert [c.body for c in completions] == [{"requestId": command.request_id, "fixtureCount": 350}]
    assert messages[-1].header.MessageType == 100
    assert sorted({m.body["fixtureId"] for m in messages[:-1]}) == list(range(1, 351))


async def test_a_snapshot_delivered_again_after_completion_sends_nothing_more(
    settings: Settings, redis: Redis, engine: AsyncEngine
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(1)])
    await ensure_consumer_group(redis)
    await append_command(redis, TriggerSnapshot(package_id=PACKAGE_ID).to_fields())
    entries = await read_commands(redis)
    res = worker_resources(settings, engine, redis, "w", queue_limit=99)
    await apply_commands(res, entries)
    await apply_commands(res, entries)
    assert [m.header.MessageType for m in await queue_messages(redis)] == [1, 100]
    assert (await redis.xpending(COMMANDS_STREAM, WORKERS_GROUP))["pending"] == 0
