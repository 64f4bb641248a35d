"""`livescore watch --package N`: a live terminal scoreboard, read from the package's queues as its
customer reads them (cli/scoreboard.py draws it)."""

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import msgspec
import typer
from redis.asyncio import Redis
from rich.live import Live

from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import fail, run, settings_of
from cli.scoreboard import Scoreboard, render
from delivery.redis_streams import RedisStreamsReader
from domain.connections import open_redis
from domain.delivery import QueueReader
from domain.errors import StorageUnavailable
from domain.messages import MessageType, envelope
from domain.scoreboard import to_message_body
from domain.scoreboard_store import package_live_boards
from domain.settings import Settings
from domain.storage import open_engine, reading

# How long one read waits for a message: the frame (clocks, the heartbeat's age) is redrawn this often.
FRAME_S = 0.25


def watch(
    ctx: typer.Context,
    package: Annotated[int, package_id_option("--package", "The package whose queues to read.")],
    username: Annotated[
        str | None, typer.Option("--username", help="Over AMQP: the package's username (as its customer).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", help="Over AMQP: the package's password (prompted if not given)."),
    ] = None,
) -> None:
    """A live scoreboard of a package's matches: score, period, clock, last incident, the feed's pulse.

    Over AMQP it logs in as the package's customer and consumes its queues: what it reads, the package's
    other consumers do not get."""
    settings = settings_of(ctx)
    login = None
    if settings.delivery == "amqp":
        if not username:
            fail("over AMQP, watch reads as the customer does: give --username (and --password)")
        login = (username, password or typer.prompt("password", hide_input=True))
    else:
        settings = redis_settings(ctx)  # over AMQP, watch reads no Redis at all
    # Ctrl-C is how watching ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_watch(settings, package, login))


async def _watch(settings: Settings, package_id: int, login: tuple[str, str] | None) -> None:
    if login is not None:
        from delivery.amqp import AmqpQueueReader  # aio-pika only when asked for

        await _show(settings, AmqpQueueReader(settings, package_id, *login), package_id)
        return
    redis: Redis = open_redis(settings.redis_address)
    try:
        seed = await _live_state(settings, package_id)
        await _show(settings, RedisStreamsReader(redis, package_id), package_id, seed)
    finally:
        await redis.aclose()


async def _live_state(settings: Settings, package_id: int) -> list[bytes]:
    """The package's live scoreboards from storage (what pull answers, SPEC §12), as messages: the first
    frame shows the names and the true score of the matches in play, not only what arrives from now on.
    Storage out of reach: the board fills from the queues alone, as before."""
    engine = open_engine(settings.database_url)
    try:
        async with reading(engine) as conn:
            boards = await package_live_boards(conn, package_id)
    except StorageUnavailable:
        return []
    finally:
        await engine.dispose()
    return [
        envelope(MessageType.SCOREBOARD, msgspec.json.encode(to_message_body(board))).body for board in boards
    ]


async def _show(settings: Settings, reader: QueueReader, package_id: int, seed: Sequence[bytes] = ()) -> None:
    board = Scoreboard(package_id, settings.heartbeat_s, since=datetime.now(UTC))
    for message in seed:
        board.apply(message)
    try:
        with Live(render(board, board.since), auto_refresh=False) as live:
            while True:
                for _, message in await reader.read(FRAME_S):
                    board.apply(message)
                live.update(render(board, datetime.now(UTC)), refresh=True)
    finally:
        await reader.close()
