"""The livescore command line against real storage and Redis."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from domain.models import StoredFixture
from domain.streams import fixtures_queue, incidents_queue
from tests.fixture_factory import fixture
from tests.support import Cli


async def fixture_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(StoredFixture))).scalar_one())


def _plain(fixture_id: int) -> Any:
    return msgspec.to_builtins(fixture(fixture_id))


async def test_package_add_then_list_shows_no_secret(cli: Cli) -> None:
    added = await cli(
        "package", "add", "--id", "7", "--username", "a@example.com", "--password", "hunter2", "--active"
    )
    assert added.exit_code == 0, added.output
    listed = await cli("package", "list")
    assert listed.exit_code == 0
    assert listed.output.strip() == "7\ta@example.com\tactive"
    assert "hunter2" not in added.output + listed.output
    assert "argon2" not in listed.output


async def test_adding_a_package_twice_fails_with_one_line(cli: Cli) -> None:
    await cli("package", "add", "--id", "7", "--username", "a", "--password", "p")
    again = await cli("package", "add", "--id", "7", "--username", "a", "--password", "p")
    assert again.exit_code == 1
    assert again.output.strip() == "livescore: that package already exists"


async def test_set_password_of_an_unknown_package_fails(cli: Cli) -> None:
    result = await cli("package", "set-password", "--id", "404", "--password", "x")
    assert result.exit_code == 1
    assert result.output.strip() == "livescore: No package with id 404"


async def test_import_accepts_json_lines(cli: Cli, engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "fixtures.jsonl"
    path.write_text("\n".join(json.dumps(_plain(i)) for i in range(1, 4)) + "\n\n")
    result = await cli("fixtures", "import", str(path))
    assert result.exit_code == 0, result.output
    assert await fixture_count(engine) == 3


async def test_import_accepts_a_json_array_and_stamps_missing_last_update(
    cli: Cli, engine: AsyncEngine, tmp_path: Path
) -> None:
    items = [_plain(1), {k: v for k, v in _plain(2).items() if k != "lastUpdate"}]
    path = tmp_path / "fixtures.json"
    path.write_text(json.dumps(items))
    assert (await cli("fixtures", "import", str(path))).exit_code == 0
    assert await fixture_count(engine) == 2


async def test_a_bad_line_is_reported_by_number_and_nothing_is_imported(
    cli: Cli, engine: AsyncEngine, tmp_path: Path
) -> None:
    lines = [json.dumps(_plain(1)), json.dumps(_plain(2)), json.dumps({**_plain(3), "status": 12})]
    path = tmp_path / "fixtures.jsonl"
    path.write_text("\n".join(lines))
    result = await cli("fixtures", "import", str(path))
    assert result.exit_code == 1
    assert "line 3" in result.output
    assert "nothing imported" in result.output
    assert await fixture_count(engine) == 0


async def test_a_line_that_is_not_json_is_reported_by_number(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "fixtures.jsonl"
    path.write_text(json.dumps(_plain(1)) + "\n{oops\n")
    result = await cli("fixtures", "import", str(path))
    assert result.exit_code == 1
    assert "line 2" in result.output


async def test_generate_makes_the_same_fixtures_for_the_same_seed_and_others_for_another(
    cli: Cli, engine: AsyncEngine
) -> None:
    # The fixtures are made around the current hour: should it turn meanwhile, the second round cannot.
    for _ in range(2):
        hour = _this_hour()
        first, again, other = [await generated(cli, engine, seed) for seed in ("4", "4", "5")]
        if _this_hour() == hour:
            break
    assert len(first) == 300
    assert again == first
    assert other != first


async def generated(cli: Cli, engine: AsyncEngine, seed: str) -> list[tuple[int, bytes]]:
    """Every stored fixture, id and body, after `fixtures generate` into empty storage."""
    async with engine.begin() as conn:
        await conn.execute(delete(StoredFixture))
    await cli.output("fixtures", "generate", "--count", "300", "--seed", seed)
    query = select(col(StoredFixture.fixture_id), col(StoredFixture.body)).order_by(
        col(StoredFixture.fixture_id)
    )
    async with engine.connect() as conn:
        return [(fixture_id, bytes(body)) for fixture_id, body in await conn.execute(query)]


def _this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def test_queue_read_prints_the_queue_as_json_lines(cli: Cli, redis: Redis) -> None:
    for i in range(3):
        await redis.xadd(fixtures_queue(9), {"message": json.dumps({"n": i})})
    result = await cli("queue", "read", "--package", "9", "--count", "2")
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.output.splitlines()] == [{"n": 0}, {"n": 1}]


async def test_queue_read_prints_the_incidents_queue_with_incidents(cli: Cli, redis: Redis) -> None:
    await redis.xadd(fixtures_queue(9), {"message": json.dumps({"n": "fixture"})})
    await redis.xadd(incidents_queue(9), {"message": json.dumps({"n": "incident"})})
    result = await cli("queue", "read", "--package", "9", "--incidents")
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.output.splitlines()] == [{"n": "incident"}]


async def test_db_upgrade_is_idempotent(cli: Cli) -> None:
    assert (await cli("db", "upgrade")).exit_code == 0
    assert (await cli("db", "upgrade")).exit_code == 0
