"""`livescore replay` and `livescore dead`: the command log as the source of truth."""

import json
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.command_log import ensure_consumer_group
from domain.commands import ActivatePackage, DeactivatePackage, TriggerSnapshot
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, DEAD_LETTERS_STREAM
from tests.support import Cli, read_commands, worker_resources


async def statuses(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        return {package_id: status for package_id, _, status in await packages.list_packages(conn)}


async def recreate(engine: AsyncEngine, ids: range) -> None:
    """Storage as if rebuilt: the packages exist again, inactive, with no command applied."""
    async with engine.begin() as conn:
        for package_id in ids:
            await packages.add_package(conn, package_id, f"u{package_id}", "pw")


HISTORY = [(1, "a"), (2, "a"), (1, "d"), (3, "a"), (2, "d"), (2, "a"), (1, "a"), (3, "d"), (4, "d")]
EXPECTED = {1: "active", 2: "active", 3: "inactive", 4: "inactive"}


async def write_history(redis: Redis) -> None:
    for package_id, kind in HISTORY:
        command = ActivatePackage if kind == "a" else DeactivatePackage
        await redis.xadd(COMMANDS_STREAM, command(package_id=package_id).to_fields())  # type: ignore[arg-type]
    await redis.xadd(COMMANDS_STREAM, TriggerSnapshot(package_id=1).to_fields())  # type: ignore[arg-type]


async def test_replay_onto_fresh_storage_reproduces_every_status(
    cli: Cli, engine: AsyncEngine, redis: Redis
) -> None:
    await recreate(engine, range(1, 5))
    await write_history(redis)
    output = await cli.output("replay")
    assert await statuses(engine) == EXPECTED
    assert "10 entries read: 9 activation commands, 1 snapshots (0 re-sent)" in output
    assert "package 1: inactive -> active" in output
    assert "package 3" not in output
    assert await redis.xlen(COMMANDS_STREAM) == 10


async def test_a_second_replay_changes_nothing(cli: Cli, engine: AsyncEngine, redis: Redis) -> None:
    await recreate(engine, range(1, 5))
    await write_history(redis)
    await cli.output("replay")
    output = await cli.output("replay")
    assert "0 packages changed" in output
    assert await statuses(engine) == EXPECTED


async def test_a_dry_run_prints_the_changes_and_makes_none(
    cli: Cli, engine: AsyncEngine, redis: Redis
) -> None:
    await recreate(engine, range(1, 5))
    await write_history(redis)
    output = await cli.output("replay", "--dry-run")
    assert "package 1: inactive -> active" in output
    assert "package 2: inactive -> active" in output
    assert "2 packages would change" in output
    assert set((await statuses(engine)).values()) == {"inactive"}


async def test_replay_of_one_package_and_a_range(cli: Cli, engine: AsyncEngine, redis: Redis) -> None:
    await recreate(engine, range(1, 5))
    await write_history(redis)
    entries: Any = await redis.xrange(COMMANDS_STREAM)
    await cli.output("replay", "--package", "2", "--to", entries[4][0].decode())
    assert await statuses(engine) == {1: "inactive", 2: "inactive", 3: "inactive", 4: "inactive"}
    await cli.output("replay", "--package", "2", "--from", entries[5][0].decode())
    assert (await statuses(engine))[2] == "active"


async def test_snapshots_are_re_sent_only_when_asked(cli: Cli, engine: AsyncEngine, redis: Redis) -> None:
    await recreate(engine, range(1, 5))
    await write_history(redis)
    output = await cli.output("replay", "--include-snapshots")
    assert "(1 re-sent)" in output
    newest: Any = await redis.xrevrange(COMMANDS_STREAM, count=1)
    assert newest[0][1][b"type"] == b"snapshot"
    assert await redis.xlen(COMMANDS_STREAM) == 11


async def test_a_dead_letter_is_listed_and_can_be_retried(
    cli: Cli, settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    from worker.redelivery import dead_letter

    await recreate(engine, range(1, 2))
    await ensure_consumer_group(redis)
    command = ActivatePackage(package_id=1)
    await redis.xadd(COMMANDS_STREAM, command.to_fields())  # type: ignore[arg-type]
    (entry_id, fields), *_ = await read_commands(redis)
    await dead_letter(worker_resources(settings, engine, redis), entry_id, fields, 5)
    listed = [json.loads(line) for line in (await cli.output("dead", "list")).splitlines()]
    assert len(listed) == 1
    assert listed[0]["original_id"] == entry_id.decode()
    assert listed[0]["command"]["commandId"] == command.command_id
    assert listed[0]["deliveries"] == 5
    await cli.output("dead", "retry", listed[0]["id"])
    assert await redis.xlen(DEAD_LETTERS_STREAM) == 0
    newest: Any = await redis.xrevrange(COMMANDS_STREAM, count=1)
    assert newest[0][1] == fields
    assert newest[0][0] != entry_id
