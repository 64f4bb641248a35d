"""`livescore dead list|retry|purge [--incidents]`: commands that failed too often, incidents that cannot be
delivered."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import typer
from redis.asyncio import Redis

from cli.help_format import MARKUP, LivescoreGroup
from cli.redis_choice import redis_settings
from cli.runner import run, stream_id
from domain.command_log import Replication
from domain.connections import open_redis
from domain.dead_letters import (
    list_dead_incidents,
    list_dead_letters,
    newest_id,
    purge,
    retry,
    retry_incident,
)
from domain.settings import Settings
from domain.streams import DEAD_LETTERS_STREAM, INCIDENT_DEAD_LETTERS_STREAM

dead_app = typer.Typer(
    cls=LivescoreGroup,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    help="Dead-lettered commands and incidents.",
)

T = TypeVar("T")
Incidents = Annotated[
    bool, typer.Option("--incidents", help="Incidents (livescore:incidents:dead) instead of commands.")
]


@dead_app.command("list")
def dead_list(
    ctx: typer.Context,
    count: Annotated[int | None, typer.Option("--count", min=1)] = None,
    incidents: Incidents = False,
) -> None:
    """Every dead letter as a JSON line: its id, the original entry id, the error, the command.

    With --incidents: the incident's message as it arrived instead of the command.
    """
    lister: Callable[[Redis], Awaitable[list[Any]]] = (
        (lambda redis: list_dead_incidents(redis, count))
        if incidents
        else (lambda redis: list_dead_letters(redis, count))
    )
    for letter in run(_with_redis(redis_settings(ctx), lister)):
        typer.echo(json.dumps(asdict(letter)))


@dead_app.command("retry")
def dead_retry(
    ctx: typer.Context,
    dead_letter_id: Annotated[str, typer.Argument(metavar="ID")],
    incidents: Incidents = False,
) -> None:
    """Put a dead letter back on its stream (a command becomes the latest; an incident comes late).

    A command is appended as a new, latest command; an incident at the end of the incidents stream, so it
    is delivered after the incidents of its fixture that came meanwhile.
    """
    stream_id(dead_letter_id)
    settings = redis_settings(ctx)
    if incidents:
        new_id = run(_with_redis(settings, lambda redis: retry_incident(redis, dead_letter_id)))
        typer.echo(f"dead incident {dead_letter_id} is incident entry {new_id.decode()} again")
        return
    maxlen, replication = settings.commands_maxlen, Replication.of(settings)
    new_id = run(_with_redis(settings, lambda redis: retry(redis, dead_letter_id, maxlen, replication)))
    typer.echo(f"dead letter {dead_letter_id} is command {new_id.decode()} again")


@dead_app.command("purge")
def dead_purge(
    ctx: typer.Context,
    incidents: Incidents = False,
    through: Annotated[
        str | None,
        typer.Option("--through", metavar="ID", help="Only up to this dead letter (default: the newest)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove dead letters once inspected (`dead list`); those that come meanwhile are kept."""
    if through is not None:
        stream_id(through)
    settings = redis_settings(ctx)
    stream = INCIDENT_DEAD_LETTERS_STREAM if incidents else DEAD_LETTERS_STREAM
    through = through or run(_with_redis(settings, lambda redis: newest_id(redis, stream)))
    if through is None:
        typer.echo("no dead letters")
        return
    if not yes:
        typer.confirm(f"remove the dead letters of {stream} through {through}?", abort=True)
    removed = run(_with_redis(settings, lambda redis: purge(redis, stream, through)))
    typer.echo(f"{removed} dead letters removed")


async def _with_redis(settings: Settings, job: Callable[[Redis], Awaitable[T]]) -> T:
    redis: Redis = open_redis(settings.redis_address)
    try:
        return await job(redis)
    finally:
        await redis.aclose()
