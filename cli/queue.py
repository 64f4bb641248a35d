"""`livescore queue read`: a package's fixtures (or incidents) queue as JSON lines, as its customer will
receive it, without consuming it."""

import contextlib
import sys
from typing import Annotated

import typer
from redis.asyncio import Redis

from cli.help_format import MARKUP, LivescoreGroup
from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import fail, run
from delivery import open_peek
from domain.connections import open_redis
from domain.delivery import QueueKind
from domain.settings import Settings

queue_app = typer.Typer(
    cls=LivescoreGroup,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    help="Customers' fixtures and incidents queues.",
)


@queue_app.command("read")
def read_queue(
    ctx: typer.Context,
    package: Annotated[int, package_id_option("--package")],
    count: Annotated[int | None, typer.Option("--count", min=1, help="The oldest N (default: all).")] = None,
    last: Annotated[int | None, typer.Option("--last", min=1, help="The newest N, oldest first.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new messages (after --last N, if given).")
    ] = False,
    incidents: Annotated[
        bool, typer.Option("--incidents", help="The incidents queue instead of the fixtures queue.")
    ] = False,
) -> None:
    """Print the messages of a package's queue, oldest first, without consuming them."""
    if count is not None and last is not None:
        fail("give --count (the oldest) or --last (the newest), not both")
    settings = redis_settings(ctx)
    kind = QueueKind.INCIDENTS if incidents else QueueKind.FIXTURES
    # Ctrl-C is how --follow ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_read(settings, package, kind, count, last, follow))


async def _read(
    settings: Settings, package_id: int, kind: QueueKind, count: int | None, last: int | None, follow: bool
) -> None:
    redis: Redis = open_redis(settings.redis_address)
    peek = open_peek(settings, redis)
    try:
        async for body in peek.read(package_id, kind, count, last, follow):
            sys.stdout.buffer.write(body + b"\n")
            sys.stdout.flush()
    finally:
        await peek.close()
        await redis.aclose()
