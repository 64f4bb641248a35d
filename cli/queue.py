"""`livescore queue read`: a package's fixtures (or incidents) queue as JSON lines, as its customer will
receive it."""

import contextlib
import sys
from typing import Annotated, Any

import typer
from redis.asyncio import Redis

from cli.runner import run, settings_of
from domain.connections import open_redis
from domain.messages import MESSAGE_FIELD
from domain.streams import fixtures_queue, incidents_queue

queue_app = typer.Typer(no_args_is_help=True, help="Customers' fixtures and incidents queues.")

# --follow waits this long per read, so Ctrl-C is noticed promptly.
FOLLOW_BLOCK_MS = 1000
_MESSAGE = MESSAGE_FIELD.encode()


@queue_app.command("read")
def read_queue(
    ctx: typer.Context,
    package: Annotated[int, typer.Option("--package")],
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="At most this many (default: all).")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new messages.")] = False,
    incidents: Annotated[
        bool, typer.Option("--incidents", help="The incidents queue instead of the fixtures queue.")
    ] = False,
) -> None:
    """Print the messages of a package's queue, oldest first, without consuming them."""
    queue = incidents_queue(package) if incidents else fixtures_queue(package)
    # Ctrl-C is how --follow ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_read(settings_of(ctx).redis_url, queue, count, follow))


async def _read(redis_url: str, queue: str, count: int | None, follow: bool) -> None:
    redis: Redis = open_redis(redis_url)
    try:
        last = await _print_existing(redis, queue, count)
        while follow:
            reply: Any = await redis.xread({queue: last}, block=FOLLOW_BLOCK_MS, count=500)
            for _, entries in reply or []:
                last = _print(entries) or last
    finally:
        await redis.aclose()


async def _print_existing(redis: Redis, queue: str, count: int | None) -> bytes:
    entries: Any = await redis.xrange(queue, count=count)
    return _print(entries) or (b"$" if not entries else entries[-1][0])


def _print(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bytes | None:
    for _, fields in entries:
        sys.stdout.buffer.write(fields.get(_MESSAGE, b"null") + b"\n")
    sys.stdout.flush()
    return entries[-1][0] if entries else None
