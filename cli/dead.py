"""`livescore dead list|retry [--incidents]`: commands that failed too often, incidents that cannot be
delivered."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import typer
from redis.asyncio import Redis

from cli.runner import run, settings_of, stream_id
from domain.connections import open_redis
from domain.dead_letters import list_dead_incidents, list_dead_letters, retry, retry_incident
from domain.settings import Settings

dead_app = typer.Typer(no_args_is_help=True, help="Dead-lettered commands and incidents.")

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
    for letter in run(_with_redis(settings_of(ctx), lister)):
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
    settings = settings_of(ctx)
    stream_id(dead_letter_id)
    if incidents:
        new_id = run(_with_redis(settings, lambda redis: retry_incident(redis, dead_letter_id)))
        typer.echo(f"dead incident {dead_letter_id} is incident entry {new_id.decode()} again")
        return
    new_id = run(_with_redis(settings, lambda redis: retry(redis, dead_letter_id, settings.commands_maxlen)))
    typer.echo(f"dead letter {dead_letter_id} is command {new_id.decode()} again")


async def _with_redis(settings: Settings, job: Callable[[Redis], Awaitable[T]]) -> T:
    redis: Redis = open_redis(settings.redis_url)
    try:
        return await job(redis)
    finally:
        await redis.aclose()
