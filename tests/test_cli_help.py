"""Every help text of `livescore` says what it needs to in the project's own words: it cites no document
a user of the installed package does not have."""

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from cli.main import app


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


def test_no_help_text_cites_the_spec() -> None:
    paths = list(command_paths(typer.main.get_command(app)))
    assert ("package", "show") in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "SPEC" not in result.output, path
        assert "§" not in result.output, path
