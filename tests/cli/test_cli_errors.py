"""Every failure of the `livescore` command, run as an operator runs it: one line on stderr, exit 1 (2 for a
usage error), never a traceback or a framed box."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from domain.settings import Settings, database_url_of

# The console script the package installs beside this interpreter.
LIVESCORE = str(Path(sys.executable).parent / "livescore")


def livescore(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    return subprocess.run(
        [LIVESCORE, *args], env={**environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    assert (result.returncode, result.stderr) == (code, line + "\n")


def test_a_redis_url_that_is_not_one_says_what_one_looks_like() -> None:
    result = livescore("package", "list", REDIS_URL="notaurl")
    assert_one_line(
        result, 1, "livescore: REDIS_URL is not a Redis URL: 'notaurl' (expected redis://host:6379/0)"
    )


def test_a_database_url_of_an_unknown_kind_names_the_two_that_work() -> None:
    result = livescore("package", "list", DATABASE_URL="foo://bar")
    assert_one_line(
        result,
        1,
        "livescore: DATABASE_URL is not a database URL this service knows: 'foo://bar' "
        "(use sqlite+aiosqlite:///… or postgresql+asyncpg://…)",
    )


def test_a_plain_sqlite_url_means_the_async_driver(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plain.db"
    assert livescore("db", "upgrade", DATABASE_URL=url).returncode == 0
    listed = livescore("package", "list", DATABASE_URL=url)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


def test_postgresql_without_its_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "DATABASE_URL names PostgreSQL, but its driver is not installed: "
            "pip install 'livescore-engage[postgres]'"
        ),
    ):
        Settings.from_env({"DATABASE_URL": "postgresql://u:p@db/livescore"})


def test_postgresql_urls_mean_asyncpg() -> None:
    assert database_url_of("postgres://db/x") == "postgresql+asyncpg://db/x"
    assert database_url_of("postgresql://db/x") == "postgresql+asyncpg://db/x"


def test_a_database_without_the_schema_says_to_upgrade(tmp_path: Path) -> None:
    result = livescore("package", "list", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert_one_line(result, 1, "livescore: the database has no schema yet: run `livescore db upgrade`")


def test_an_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    result = livescore("package", "list", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")
    assert_one_line(
        result,
        1,
        "livescore: cannot open the SQLite database of DATABASE_URL: does its directory exist, "
        "and may we write there?",
    )


@pytest.mark.parametrize("args", [["dead", "retry", "garbage"], ["replay", "--from", "garbage"]])
def test_a_stream_id_that_is_not_one_shows_what_ids_look_like(args: list[str]) -> None:
    result = livescore(*args)
    assert_one_line(result, 1, "livescore: not a stream id: garbage (ids look like 1700000000000-0)")


def test_an_unknown_option_is_one_line_and_status_2() -> None:
    result = livescore("package", "list", "--bogus")
    assert_one_line(result, 2, "livescore: No such option: --bogus (see `livescore package list --help`)")


def test_a_missing_option_is_one_line_and_status_2() -> None:
    result = livescore("package", "add", "--id", "1")
    assert_one_line(result, 2, "livescore: Missing option '--username'. (see `livescore package add --help`)")


def test_an_unknown_command_is_one_line_and_status_2() -> None:
    result = livescore("frob")
    assert_one_line(result, 2, "livescore: No such command 'frob'. (see `livescore --help`)")


# Every command that takes a package id, with what it needs besides.
PACKAGE_ID_COMMANDS = [
    ["package", "add", "--username", "u", "--password", "p", "--id"],
    ["package", "set-password", "--password", "p", "--id"],
    ["package", "show", "--id"],
    ["package", "remove", "--yes", "--id"],
    ["package", "set-subscriptions", "--id"],
    ["queue", "read", "--package"],
    ["replay", "--package"],
    ["watch", "--package"],
]


@pytest.mark.parametrize("args", PACKAGE_ID_COMMANDS, ids=lambda args: " ".join(args[:2]))
@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("-5", "greater than or equal to 1"),
        ("0", "greater than or equal to 1"),
        ("2147483648", "less than or equal to 2147483647"),
    ],
)
def test_every_command_refuses_a_package_id_out_of_range_as_package_add_does(
    args: list[str], given: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, given])
    message, _, see = capsys.readouterr().err.partition(" (see ")
    assert (code, message) == (2, f"livescore: Invalid value for '{args[-1]}': Input should be {why}")
    assert see.startswith("`livescore ")
