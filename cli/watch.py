"""`livescore watch --package N`: a live terminal scoreboard, read from the package's queues as its
customer reads them (cli/scoreboard.py draws it)."""

import contextlib
from datetime import UTC, datetime
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.live import Live

from cli.runner import run, settings_of
from cli.scoreboard import Scoreboard, render
from delivery.redis_streams import RedisStreamsReader
from domain.connections import open_redis
from domain.delivery import QueueReader
from domain.settings import Settings

# How long one read waits for a message: the frame (clocks, the heartbeat's age) is redrawn this often.
FRAME_S = 0.25


def watch(
    ctx: typer.Context,
    package: Annotated[int, typer.Option("--package", min=1, help="The package whose queues to read.")],
) -> None:
    """A live scoreboard of a package's matches: score, period, clock, last incident, the feed's pulse."""
    # Ctrl-C is how watching ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_watch(settings_of(ctx), package))


async def _watch(settings: Settings, package_id: int) -> None:
    redis: Redis = open_redis(settings.redis_url)
    reader: QueueReader = RedisStreamsReader(redis, package_id)
    board = Scoreboard(package_id, settings.heartbeat_s, since=datetime.now(UTC))
    try:
        with Live(render(board, board.since), auto_refresh=False) as live:
            while True:
                for _, message in await reader.read(FRAME_S):
                    board.apply(message)
                live.update(render(board, datetime.now(UTC)), refresh=True)
    finally:
        await reader.close()
        await redis.aclose()
