"""Applying activation commands: last writer wins on the stream id, acknowledgement after commit."""

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.activation import apply_activations
from domain.command_log import ensure_consumer_group
from domain.commands import ActivatePackage, DeactivatePackage
from domain.package_status import PackageStatus
from domain.package_view import PackageView
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP
from tests.support import (
    PACKAGE_ID,
    append_command,
    eventually,
    pending_commands,
    read_commands,
    stored_package,
    worker_resources,
)
from worker.handlers import apply_commands
from worker.resources import Resources

pytestmark = pytest.mark.usefixtures("package")


@pytest.fixture
async def res(settings: Settings, engine: AsyncEngine, redis: Redis) -> Resources:
    await ensure_consumer_group(redis)
    return worker_resources(settings, engine, redis)


async def test_a_command_is_acknowledged_once_applied(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    await apply_commands(res, await read_commands(redis))
    assert (await stored_package(engine)).status == "active"
    assert await pending_commands(redis) == 0


async def test_a_redelivered_command_changes_nothing(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    entries = await read_commands(redis)
    await apply_commands(res, entries)
    before = await stored_package(engine)
    # A deactivation in between, then the old activation delivered again: it must not win.
    await append_command(redis, DeactivatePackage(package_id=PACKAGE_ID).to_fields())
    await apply_commands(res, await read_commands(redis))
    await apply_commands(res, entries)
    after = await stored_package(engine)
    assert after.status == "inactive"
    assert (after.applied_ms, after.applied_seq) > (before.applied_ms, before.applied_seq)


async def test_a_redelivery_of_the_last_command_repeats_its_outcome_and_changes_nothing(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    entries = await read_commands(redis)
    sid, command = (await apply_commands(res, entries)).activations[0]
    before = await stored_package(engine)
    (again,) = await apply_activations(engine, [(sid, command)])
    assert again.outcome.value == "completed"
    assert await stored_package(engine) == before


async def test_an_older_command_applied_late_does_not_override_a_newer_one(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    await append_command(redis, DeactivatePackage(package_id=PACKAGE_ID).to_fields())
    older, newer = await read_commands(redis)
    await apply_commands(res, [newer])
    await apply_commands(res, [older])
    assert (await stored_package(engine)).status == "inactive"
    assert (await PackageView(redis).read(PACKAGE_ID)).status is PackageStatus.INACTIVE


async def test_an_undecodable_entry_stays_pending_and_the_rest_of_its_batch_applies(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    await redis.xadd(COMMANDS_STREAM, {"type": b"\xff\xfe", "junk": b"1"})
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    batch = await apply_commands(res, await read_commands(redis))
    assert len(batch.failed) == 1
    assert (await stored_package(engine)).status == "active"
    assert await pending_commands(redis) == 1


async def test_a_command_for_a_package_id_storage_cannot_hold_does_not_hold_up_its_batch(
    res: Resources, redis: Redis, engine: AsyncEngine
) -> None:
    impossible = {**ActivatePackage(package_id=1).to_fields(), "packageId": str(2**64)}
    await append_command(redis, impossible)
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    await append_command(redis, DeactivatePackage(package_id=PACKAGE_ID).to_fields())
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    batch = await apply_commands(res, await read_commands(redis))
    (error,) = batch.failed.values()
    assert "no valid package" in error
    assert (await stored_package(engine)).status == "active"
    assert await pending_commands(redis) == 1


async def test_a_command_storage_refuses_is_left_pending_and_the_rest_of_its_batch_applies(
    res: Resources, redis: Redis, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever storage refuses in a batch (not an outage), the others are applied at once, one by one."""
    from worker import handlers

    async def refusing(engine: AsyncEngine, commands: Any) -> Any:
        if any(command.package_id == 77 for _, command in commands):
            raise ValueError("storage refuses package 77")
        return await apply_activations(engine, commands)

    monkeypatch.setattr(handlers, "apply_activations", refusing)
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    await append_command(redis, ActivatePackage(package_id=77).to_fields())
    await append_command(redis, DeactivatePackage(package_id=PACKAGE_ID).to_fields())
    batch = await apply_commands(res, await read_commands(redis))
    assert list(batch.failed.values()) == ["ValueError: storage refuses package 77"]
    assert (await stored_package(engine)).status == "inactive"
    assert await pending_commands(redis) == 1


async def test_while_storage_is_unreachable_the_worker_holds_its_commands_until_told_to_stop(
    res: Resources, redis: Redis, tmp_path: Any
) -> None:
    broken = open_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    # Entries in hand are re-claimed every 50 ms.
    quick = dataclasses.replace(res.settings, claim_idle_ms=200)
    failing = worker_resources(quick, broken, redis)
    await append_command(redis, ActivatePackage(package_id=PACKAGE_ID).to_fields())
    entries = await read_commands(redis)
    read_at = time.monotonic()
    handling = asyncio.create_task(apply_commands(failing, entries))

    async def held() -> Any:
        (entry,) = await redis.xpending_range(COMMANDS_STREAM, WORKERS_GROUP, "-", "+", 10)
        return entry

    async def claim_renewed() -> bool:
        """The entry has been idle for less than the time since it was read, by several renewals."""
        return bool((await held())["time_since_delivered"] + 200 < (time.monotonic() - read_at) * 1000)

    await eventually(claim_renewed, 10, "the worker renewed its claim on the command it holds")
    still_waiting = not handling.done()
    deliveries = (await held())["times_delivered"]
    failing.stopping.set()
    batch = await handling
    await broken.dispose()
    assert still_waiting
    # Held, not redelivered: the outage does not count against the command's deliveries.
    assert deliveries == 1
    assert await pending_commands(redis) == 1
    (entry_id, error), *_ = batch.failed.items()
    assert error == "StorageUnavailable: Package storage is unavailable"
    assert await redis.hget("livescore:commands:errors", entry_id) == error.encode()


async def test_the_outcome_is_published_to_the_waiting_ingress(res: Resources, redis: Redis) -> None:
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe("livescore:replies:test")
        command = ActivatePackage(package_id=PACKAGE_ID, reply_to="livescore:replies:test")
        await append_command(redis, command.to_fields())
        await apply_commands(res, await read_commands(redis))
        message = None
        async with asyncio.timeout(5):
            while message is None:  # None also for the subscription's confirmation, which is ignored
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    assert message["data"] == (
        b'{"commandId":"' + command.command_id.encode() + b'","outcome":"completed","status":"active"}'
    )
