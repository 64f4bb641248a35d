"""How `livescore --help` lays its commands out: in the order of the command line's synopsis, paragraphs
flowed to the terminal's width, and flags without a type placeholder (Typer shows `--active <bool>`, as if
the flag took a value)."""

from typing import Any, Literal

from typer._click import Command, Context
from typer.core import TyperGroup

# Markdown, so that a docstring's paragraph is flowed as one: Typer's "rich" mode keeps every line break of
# the source, which cuts sentences in the middle of a wide terminal.
MARKUP: Literal["markdown"] = "markdown"
# The synopsis's order: from setting up storage and packages, through operating the queues, to the demo.
SYNOPSIS_ORDER = ["db", "package", "fixtures", "queue", "replay", "dead", "amqp", "simulate", "watch", "dev"]


class LivescoreGroup(TyperGroup):
    """A command group of `livescore` (every Typer of cli/ is made with `cls=LivescoreGroup`)."""

    def list_commands(self, ctx: Context) -> list[str]:
        # Stable: a group's own commands (package add, list, …) keep the order they were written in.
        return sorted(super().list_commands(ctx), key=_synopsis_rank)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _without_flag_placeholders(command, ctx)
        return command

    def format_help(self, ctx: Context, formatter: Any) -> None:
        _without_flag_placeholders(self, ctx)
        super().format_help(ctx, formatter)


def _synopsis_rank(name: str) -> int:
    return SYNOPSIS_ORDER.index(name) if name in SYNOPSIS_ORDER else len(SYNOPSIS_ORDER)


def _without_flag_placeholders(command: Command, ctx: Context) -> None:
    """An empty metavar is what Typer's help shows for a flag instead of its type; a flag's parsing does
    not use it."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False) and param is not None and param.metavar is None:
            param.metavar = ""
