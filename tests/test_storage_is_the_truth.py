"""SPEC §2.5: the Redis copy of a package never says what storage does not hold, whatever wrote storage."""

from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.commands import ActivatePackage, DeactivatePackage
from domain.streams import COMMANDS_STREAM, package_view
from tests.support import BODY, PACKAGE_ID, PASSWORD, STATUS, USERNAME, Cli

# What a view left behind by an older database looks like: active, set by a command of long ago.
OLD_COPY = {
    "status": "active",
    "ms": "1700000000000",
    "seq": "0",
    "reason": "",
    "cv": "from-the-old-database",
}


async def copy_of(redis: Redis, package_id: int) -> dict[bytes, bytes]:
    copy: Any = await redis.hgetall(package_view(package_id))
    return dict(copy)


async def test_a_package_added_on_a_new_database_answers_its_stored_status_not_the_old_copy(
    cli: Cli, client: httpx.AsyncClient, redis: Redis
) -> None:
    await redis.hset(package_view(PACKAGE_ID), mapping=OLD_COPY)  # type: ignore[arg-type]
    await cli.output(
        "package", "add", "--id", str(PACKAGE_ID), "--username", USERNAME, "--password", PASSWORD
    )
    answer = await client.post(STATUS, json=BODY)
    assert answer.json()["status"] == "inactive"


async def test_after_a_replay_every_copy_equals_storage(
    cli: Cli, client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    """A restored database: package 1's last command is in the stream, package 2's copy reflects a
    command storage does not hold (trimmed away), package 3 exists only in Redis."""
    async with engine.begin() as conn:
        for package_id in (1, 2):
            await packages.add_package(conn, package_id, f"u{package_id}", "pw")
    await redis.xadd(COMMANDS_STREAM, DeactivatePackage(package_id=1).to_fields())  # type: ignore[arg-type]
    await redis.xadd(COMMANDS_STREAM, ActivatePackage(package_id=1).to_fields())  # type: ignore[arg-type]
    for package_id in (2, 3):
        await redis.hset(package_view(package_id), mapping=OLD_COPY)  # type: ignore[arg-type]
    await cli.output("replay")
    async with engine.connect() as conn:
        stored = {package_id: state for package_id, state, _ in await packages.stored_states(conn)}
    for package_id in (1, 2):
        copy = await copy_of(redis, package_id)
        if copy:  # a copy, if there is one, holds exactly what storage holds
            state = stored[package_id]
            assert copy[b"status"].decode() == state.status.value
            assert (int(copy[b"ms"]), int(copy[b"seq"])) == (state.applied.ms, state.applied.seq)
    assert (await copy_of(redis, 1))[b"status"] == b"active"
    assert await copy_of(redis, 3) == {}
    answer = await client.post(STATUS, json={"packageId": 2, "username": "u2", "password": "pw"})
    assert answer.json()["status"] == "inactive"


async def test_a_copy_newer_than_what_was_read_from_storage_is_dropped_not_overwritten(
    engine: AsyncEngine, redis: Redis
) -> None:
    """A worker may commit and copy a newer command between a refresh's read and its write: the copy
    is then dropped (rebuilt from storage on the next request), never set back."""
    from domain.package_view import PackageView

    async with engine.begin() as conn:
        await packages.add_package(conn, 1, "u1", "pw")
        ((_, state, version),) = await packages.stored_states(conn, [1])
    newer: Any = {**OLD_COPY, "ms": "9999999999999"}
    await redis.hset(package_view(1), mapping=newer)
    await PackageView(redis).refresh([(1, state, version)])
    assert await copy_of(redis, 1) == {}
    await PackageView(redis).refresh([(1, state, version)])
    assert (await copy_of(redis, 1))[b"status"] == b"inactive"
