"""`livescore queue read`: a package's fixtures (or incidents) queue as JSON lines, as its customer will
receive it, without consuming it."""

import contextlib
import sys
from typing import Annotated, Any

import typer
from redis.asyncio import Redis

from cli.help_format import MARKUP, LivescoreGroup
from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import fail, run
from delivery import open_delivery
from domain.connections import RedisAddress, open_redis
from domain.delivery import QueueKind
from domain.messages import MESSAGE_FIELD
from domain.settings import Settings
from domain.streams import fixtures_queue, incidents_queue

queue_app = typer.Typer(
    cls=LivescoreGroup,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    help="Customers' fixtures and incidents queues.",
)

# --follow waits this long per read, so Ctrl-C is noticed promptly.
FOLLOW_BLOCK_MS = 1000
# Over AMQP, what `read` fetches (and gives back) when no --count or --last says how many.
AMQP_DEFAULT_COUNT = 100
_MESSAGE = MESSAGE_FIELD.encode()


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
    if settings.delivery == "amqp":
        if follow:
            fail("--follow reads Redis streams only; over AMQP, consume the queue as a customer does")
        run(_peek_amqp(settings, package, kind, count or last or AMQP_DEFAULT_COUNT))
        return
    queue = incidents_queue(package) if incidents else fixtures_queue(package)
    # Ctrl-C is how --follow ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_read(settings.redis_address, queue, count, last, follow))


async def _peek_amqp(settings: Settings, package_id: int, kind: QueueKind, count: int) -> None:
    """The oldest `count` messages: fetched and given back, so RabbitMQ marks them redelivered
    (docs/OPERATING.md)."""
    from delivery.amqp import AmqpDelivery

    redis: Redis = open_redis(settings.redis_address)
    delivery = open_delivery(settings, redis)
    try:
        assert isinstance(delivery, AmqpDelivery)
        for body in await delivery.peek(package_id, kind, count):
            sys.stdout.buffer.write(body + b"\n")
        sys.stdout.flush()
    finally:
        await delivery.close()
        await redis.aclose()


async def _read(
    redis_address: RedisAddress, queue: str, count: int | None, last: int | None, follow: bool
) -> None:
    redis: Redis = open_redis(redis_address)
    try:
        position = await _print_existing(redis, queue, count, last, follow)
        while follow:
            reply: Any = await redis.xread({queue: position}, block=FOLLOW_BLOCK_MS, count=500)
            for _, entries in reply or []:
                position = _print(entries) or position
    finally:
        await redis.aclose()


async def _print_existing(
    redis: Redis, queue: str, count: int | None, last: int | None, follow: bool
) -> bytes:
    """Prints what is asked for of what the queue holds now; returns where --follow goes on from: the
    entry printed last, or the newest one now (never `$`, which would lose what arrives between reads)."""
    if last is not None:
        newest: Any = await redis.xrevrange(queue, count=last)
        return _print(list(reversed(newest))) or await _newest_id(redis, queue)
    if follow and count is None:  # --follow alone: what comes from now on
        return await _newest_id(redis, queue)
    entries: Any = await redis.xrange(queue, count=count)
    return _print(entries) or await _newest_id(redis, queue)


async def _newest_id(redis: Redis, queue: str) -> bytes:
    newest: Any = await redis.xrevrange(queue, count=1)
    return bytes(newest[0][0]) if newest else b"0-0"


def _print(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bytes | None:
    for _, fields in entries:
        sys.stdout.buffer.write(fields.get(_MESSAGE, b"null") + b"\n")
    sys.stdout.flush()
    return entries[-1][0] if entries else None
