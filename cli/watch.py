"""`livescore watch --package N`: a live terminal scoreboard, read from the package's queues as its
customer reads them (cli/scoreboard.py draws it)."""

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import msgspec
import typer
from rich.live import Live

from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import run, settings_of
from cli.scoreboard import Scoreboard, render
from delivery import open_reader
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
    login = None
    if username:
        login = (username, password or typer.prompt("password", hide_input=True))
    # Read as the customer (a login, over AMQP) no Redis is needed; otherwise the service's, named.
    settings = settings_of(ctx) if login is not None else redis_settings(ctx)
    # Ctrl-C is how watching ends; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        run(_watch(settings, package, login))


async def _watch(settings: Settings, package_id: int, login: tuple[str, str] | None) -> None:
    reader = open_reader(settings, package_id, login)
    await _show(settings, reader, package_id, await _live_state(settings, package_id))


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
