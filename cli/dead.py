"""`livescore dead list|retry`: commands that failed too often."""

import json
from dataclasses import asdict
from typing import Annotated

import typer
from redis.asyncio import Redis

from cli.runner import run, settings_of
from domain.connections import open_redis
from domain.dead_letters import DeadLetter, list_dead_letters, retry
from domain.settings import Settings

dead_app = typer.Typer(no_args_is_help=True, help="Dead-lettered commands.")


@dead_app.command("list")
def dead_list(
    ctx: typer.Context, count: Annotated[int | None, typer.Option("--count", min=1)] = None
) -> None:
    """Every dead letter as a JSON line: its id, the original entry id, the error, the command."""
    for letter in run(_list(settings_of(ctx), count)):
        typer.echo(json.dumps(asdict(letter)))


@dead_app.command("retry")
def dead_retry(ctx: typer.Context, dead_letter_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Put a dead letter's command back on the commands stream (as a new, latest command)."""
    settings = settings_of(ctx)
    new_id = run(_retry(settings, dead_letter_id))
    typer.echo(f"dead letter {dead_letter_id} is command {new_id.decode()} again")


async def _list(settings: Settings, count: int | None) -> list[DeadLetter]:
    redis: Redis = open_redis(settings.redis_url)
    try:
        return await list_dead_letters(redis, count)
    finally:
        await redis.aclose()


async def _retry(settings: Settings, dead_letter_id: str) -> bytes:
    redis: Redis = open_redis(settings.redis_url)
    try:
        return await retry(redis, dead_letter_id, settings.commands_maxlen)
    finally:
        await redis.aclose()
