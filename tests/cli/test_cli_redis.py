"""Which Redis the `livescore` command uses, run as an operator runs it: said in one line on stderr (never
its password), and refused — before anything is written — when neither the environment nor a running
`livescore dev` of the folder names one."""

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from cli.redis_choice import RedisChoice, choose, shown_url
from domain.streams import INCIDENTS_STREAM, fixtures_queue

REFUSAL = (
    "livescore: no Redis named: run `livescore dev` in this folder, or set REDIS_URL (or REDIS_SENTINELS) "
    "to the service's Redis\n"
)


def livescore(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    unnamed = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        env={**unnamed, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_simulate_with_no_redis_named_refuses_in_one_line(tmp_path: Path, database_url: str) -> None:
    result = livescore("simulate", "--matches", "1", cwd=tmp_path, DATABASE_URL=database_url)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", REFUSAL)


def test_package_add_with_no_redis_named_refuses_before_writing_storage(
    tmp_path: Path, database_url: str
) -> None:
    add = ["package", "add", "--id", "5", "--username", "u", "--password", "p", "--active"]
    added = livescore(*add, cwd=tmp_path, DATABASE_URL=database_url)
    assert (added.returncode, added.stderr) == (1, REFUSAL)
    listed = livescore("package", "list", cwd=tmp_path, DATABASE_URL=database_url)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "args",
    [
        ["queue", "read", "--package", "9"],
        ["replay", "--dry-run"],
        ["dead", "list"],
        ["dead", "retry", "1-0"],
        ["package", "show", "--id", "9"],
        ["package", "set-password", "--id", "9", "--password", "p"],
        ["package", "remove", "--id", "9", "--yes"],
        ["watch", "--package", "9"],
    ],
)
def test_every_command_that_uses_redis_refuses_one_nobody_named(tmp_path: Path, args: list[str]) -> None:
    result = livescore(*args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, REFUSAL)


def test_commands_without_redis_need_none_named(tmp_path: Path, database_url: str) -> None:
    result = livescore("fixtures", "generate", "--count", "2", cwd=tmp_path, DATABASE_URL=database_url)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.fixture
async def password_url(redis: Redis, redis_url: str) -> AsyncIterator[str]:
    """The test's Redis behind a user of its own with a password (an ACL user; the server stays open)."""
    await redis.acl_setuser(
        "cli-tester", enabled=True, passwords=["+s3cret-pw"], keys=["*"], commands=["+@all"]
    )
    yield redis_url.replace("redis://", "redis://cli-tester:s3cret-pw@", 1)
    await redis.acl_deluser("cli-tester")


async def test_redis_url_is_said_in_one_line_without_its_password(
    tmp_path: Path, password_url: str, redis: Redis
) -> None:
    await redis.xadd(fixtures_queue(9), {"message": json.dumps({"n": 1})})
    result = livescore("queue", "read", "--package", "9", cwd=tmp_path, REDIS_URL=password_url)
    shown = password_url.replace("s3cret-pw", "***")
    assert (result.returncode, result.stderr) == (0, f"livescore: using REDIS_URL {shown}\n")
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": 1}]


async def test_simulate_in_a_dev_folder_says_it_uses_the_redis_dev_noted(
    tmp_path: Path, redis_url: str, redis: Redis, database_url: str
) -> None:
    note = tmp_path / ".livescore" / "env"
    note.parent.mkdir()
    # This process stands for the running `dev` that wrote the note.
    note.write_text(f"LIVESCORE_DEV_PID={os.getpid()}\nREDIS_URL={redis_url}\nDATABASE_URL={database_url}\n")
    result = livescore("simulate", "--matches", "1", "--speed", "50000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    said = f"livescore: using Redis of livescore dev (./.livescore/env): {redis_url}"
    assert result.stderr.splitlines()[0] == said
    assert await redis.xlen(INCIDENTS_STREAM) > 0


def test_the_environment_wins_over_the_note_and_says_so(tmp_path: Path, redis_url: str) -> None:
    note = tmp_path / ".livescore" / "env"
    note.parent.mkdir()
    note.write_text(f"LIVESCORE_DEV_PID={os.getpid()}\nREDIS_URL=redis://127.0.0.1:1/0\n")
    result = livescore("dead", "list", cwd=tmp_path, REDIS_URL=redis_url)
    assert (result.returncode, result.stderr) == (0, f"livescore: using REDIS_URL {redis_url}\n")


def test_a_password_in_the_query_is_hidden_too() -> None:
    assert shown_url("redis://h:6379/0?password=pw&db=1") == "redis://h:6379/0?password=***&db=1"
    assert shown_url("rediss://:pw@h:6380/2") == "rediss://:***@h:6380/2"


def test_sentinels_are_said_with_the_name_of_their_primary() -> None:
    environ = {"REDIS_SENTINELS": "10.0.0.5:26379,10.0.0.6:26379", "REDIS_SENTINEL_MASTER": "livescore"}
    noted = {"REDIS_URL": "redis://127.0.0.1:41327"}
    said = "using REDIS_SENTINELS 10.0.0.5:26379,10.0.0.6:26379 (primary 'livescore')"
    assert choose(environ, noted) == RedisChoice(said)
    assert choose({}, {}) == RedisChoice(None)
