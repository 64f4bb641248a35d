"""The operator's commands: a package shown, removed, its subscriptions replaced, packages listed as JSON,
dead letters purged once inspected, and the version."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.main import app as cli_app
from domain import packages
from domain.settings import Settings
from domain.streams import DEAD_LETTERS_STREAM, INCIDENT_DEAD_LETTERS_STREAM, fixtures_queue
from tests.support import BODY, STATUS, Cli, add_package


async def test_show_prints_status_subscriptions_and_queues_and_never_a_secret(cli: Cli, redis: Redis) -> None:
    await cli.output(
        "package", "add", "--id", "7", "--username", "a@example.com", "--password", "hunter2", "--active",
        "--sport", "6046", "--sport", "1", "--league", "1001",
    )  # fmt: skip
    await redis.xadd(fixtures_queue(7), {"message": "{}"})
    lines = (await cli.output("package", "show", "--id", "7")).splitlines()
    assert lines[:6] == [
        "id: 7", "username: a@example.com", "status: active", "reason: -", "sports: 1 6046", "leagues: 1001",
    ]  # fmt: skip
    kinds = [line.partition(" queue: ")[0] for line in lines[6:]]
    assert kinds == ["fixtures", "incidents"]
    fixtures = json.loads(lines[6].partition(" queue: ")[2])
    assert (fixtures["name"], fixtures["length"]) == (fixtures_queue(7), 1)
    assert "hunter2" not in "\n".join(lines)
    assert "argon2" not in "\n".join(lines)


async def test_show_of_a_package_without_subscriptions_says_it_gets_every_fixture(
    cli: Cli, engine: AsyncEngine
) -> None:
    await add_package(engine)
    lines = (await cli.output("package", "show", "--id", "123")).splitlines()
    assert lines[4:6] == ["sports: every one", "leagues: every one"]


async def test_show_of_an_unknown_package_is_one_line(cli: Cli) -> None:
    result = await cli("package", "show", "--id", "404")
    assert (result.exit_code, result.output) == (1, "livescore: No package with id 404\n")


async def test_a_removed_package_is_gone_and_the_ingress_stops_answering_for_it(
    cli: Cli, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    await add_package(engine)
    assert (await client.post(STATUS, json=BODY)).status_code == 200
    assert await cli.output("package", "remove", "--id", "123", "--yes") == "package 123 removed\n"
    answer = await client.post(STATUS, json=BODY)
    assert (answer.status_code, answer.json()) == (400, {"error": "Invalid package credentials"})
    assert await cli.output("package", "list") == ""


async def test_remove_asks_first_and_a_no_keeps_the_package(settings: Settings, engine: AsyncEngine) -> None:
    await add_package(engine)

    def invoke() -> object:
        return CliRunner().invoke(cli_app, ["package", "remove", "--id", "123"], input="n\n", obj=settings)

    result = await asyncio.to_thread(invoke)
    assert getattr(result, "exit_code", None) == 1
    async with engine.connect() as conn:
        assert [row[0] for row in await packages.list_packages(conn)] == [123]


async def test_remove_of_an_unknown_package_is_one_line(cli: Cli) -> None:
    result = await cli("package", "remove", "--id", "404", "--yes")
    assert (result.exit_code, result.output) == (1, "livescore: No package with id 404\n")


async def test_set_subscriptions_replaces_them_and_none_means_every_fixture(
    cli: Cli, engine: AsyncEngine
) -> None:
    await add_package(engine, sports=[1])
    said = await cli.output("package", "set-subscriptions", "--id", "123", "--league", "9", "--sport", "2")
    assert said == "package 123 now subscribes to sport 2, league 9\n"
    lines = (await cli.output("package", "show", "--id", "123")).splitlines()
    assert lines[4:6] == ["sports: 2", "leagues: 9"]
    assert await cli.output("package", "set-subscriptions", "--id", "123") == (
        "package 123 now subscribes to every fixture\n"
    )
    lines = (await cli.output("package", "show", "--id", "123")).splitlines()
    assert lines[4:6] == ["sports: every one", "leagues: every one"]


async def test_set_subscriptions_of_an_unknown_package_is_one_line(cli: Cli) -> None:
    result = await cli("package", "set-subscriptions", "--id", "404", "--sport", "1")
    assert (result.exit_code, result.output) == (1, "livescore: No package with id 404\n")


async def test_list_as_json_is_one_object_per_line(cli: Cli, engine: AsyncEngine) -> None:
    await add_package(engine)
    await add_package(engine, 8, active=False)
    lines = (await cli.output("package", "list", "--json")).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 8, "username": "u8", "status": "inactive"},
        {"id": 123, "username": "user@example.com", "status": "active"},
    ]


async def test_purge_removes_the_dead_letters_through_the_one_named(cli: Cli, redis: Redis) -> None:
    added: list[Any] = [await redis.xadd(DEAD_LETTERS_STREAM, {"n": str(n)}) for n in range(3)]
    ids = [entry_id.decode() for entry_id in added]
    said = await cli.output("dead", "purge", "--through", ids[1], "--yes")
    assert said == "2 dead letters removed\n"
    left: Any = await redis.xrange(DEAD_LETTERS_STREAM)
    assert [entry_id.decode() for entry_id, _ in left] == [ids[2]]
    assert await cli.output("dead", "purge", "--yes") == "1 dead letters removed\n"
    assert await cli.output("dead", "purge", "--yes") == "no dead letters\n"


async def test_purge_with_incidents_leaves_the_commands_dead_letters(cli: Cli, redis: Redis) -> None:
    await redis.xadd(DEAD_LETTERS_STREAM, {"n": "command"})
    await redis.xadd(INCIDENT_DEAD_LETTERS_STREAM, {"n": "incident"})
    assert await cli.output("dead", "purge", "--incidents", "--yes") == "1 dead letters removed\n"
    assert (await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM), await redis.xlen(DEAD_LETTERS_STREAM)) == (0, 1)


def test_version_is_the_installed_package_s() -> None:
    from importlib import metadata

    livescore = str(Path(sys.executable).parent / "livescore")
    result = subprocess.run([livescore, "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"livescore {metadata.version('livescore-engage')}\n")
