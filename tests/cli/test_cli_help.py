"""Every help text of `livescore` says what it needs to in the project's own words: it cites no document
a user of the installed package does not have."""

import inspect
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


# Wide enough that every paragraph of every help text fits on one line.
WIDE = 400


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDE)})
    assert result.exit_code == 0, path
    return result.output


def test_commands_are_listed_in_the_order_of_the_synopsis() -> None:
    order = ["db", "package", "fixtures", "queue", "replay", "dead", "amqp", "simulate", "watch", "dev"]
    shown = [line.split()[1] for line in help_of(()).splitlines() if line.startswith("│ ")]
    assert [name for name in shown if not name.startswith("-")] == order


def test_no_flag_shows_a_type_placeholder() -> None:
    for path in command_paths(typer.main.get_command(app)):
        assert "<bool>" not in help_of(path), path


def test_no_paragraph_of_help_is_broken_mid_line() -> None:
    """Every paragraph of a command's help, and every option's help, is one line on a wide terminal."""
    root = typer.main.get_command(app)
    for path in command_paths(root):
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        lines = [" ".join(line.strip(" │").split()) for line in help_of(path).splitlines()]
        texts = inspect.cleandoc(command.help or "").split("\n\n")
        texts += [text for param in command.params if (text := getattr(param, "help", None))]
        for text in texts:
            flowed = " ".join(text.replace("`", "").split())
            assert any(flowed in line for line in lines), (path, flowed)
