"""The worker's composition root: builds the FastStream app from settings (the Procfile's `worker`)."""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from domain.command_log import ensure_consumer_group
from domain.connections import open_redis
from domain.fixtures_queue import FixturesQueue
from domain.logs import configure_logging
from domain.package_view import PackageView
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from worker.consumers import GroupMonitor
from worker.entries import entries_of, keep_raw_entries
from worker.handlers import CommandHandler
from worker.http import OperationsServer
from worker.metrics import FASTSTREAM_METRICS
from worker.outages import MAX_PAUSE_S
from worker.redelivery import Redelivery
from worker.snapshots import SnapshotRunner
from worker.updates import UpdateHandler

log = logging.getLogger("worker")

# How often a worker looks for commands abandoned by dead workers when it found none the last time.
CLAIM_POLL_MS = 1000


def consumer_name() -> str:
    """Unique per process and readable by an operator looking at XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Handlers:
    commands: CommandHandler
    redelivery: Redelivery
    updates: UpdateHandler


def create_app(settings: Settings | None = None, consumer: str | None = None) -> FastStream:
    settings = settings or Settings.from_env()
    consumer = consumer or consumer_name()
    # FastStream logs every message it handles; at DEBUG those lines cost nothing on the hot path.
    broker = RedisBroker(settings.redis_url, log_level=logging.DEBUG, middlewares=[FASTSTREAM_METRICS])
    redis: Redis = open_redis(settings.redis_url)
    engine = open_engine(settings.database_url)
    view = PackageView(redis, queue_limit=settings.queue_limit)
    queue = FixturesQueue(redis, settings.queue_limit, settings.commands_maxlen)
    stopping = asyncio.Event()
    snapshots = SnapshotRunner(engine, redis, view, queue, consumer)
    keep_every_s = min(MAX_PAUSE_S, settings.claim_idle_ms / 1000 / 4)
    commands = CommandHandler(engine, redis, view, snapshots, stopping, keep_every_s)
    handlers = Handlers(
        commands,
        Redelivery(redis, commands, settings.max_deliveries),
        UpdateHandler(engine, redis, view, queue, stopping),
    )
    _subscribe(broker, settings, consumer, handlers)
    monitor = GroupMonitor(redis, consumer, settings.claim_idle_ms)
    # First of all, a handler waiting for storage to return gives up: its entries stay pending.
    starting, shutting_down = [monitor.start], [_setter(stopping), monitor.stop]
    if settings.worker_port is not None:
        server = OperationsServer(settings.host, settings.worker_port)
        starting.append(server.start)
        shutting_down.append(server.stop)

    async def prepare() -> None:
        await ensure_consumer_group(redis)
        await ensure_consumer_group(redis, FIXTURE_UPDATES_STREAM)

    async def finish_own_pending() -> None:
        """Apply what this worker read but had not applied when told to stop (FastStream may cancel a
        read in flight), so a deploy leaves nothing waiting the claim idle time."""
        try:
            reply: Any = await redis.xreadgroup(
                WORKERS_GROUP, consumer, {COMMANDS_STREAM: "0"}, settings.worker_batch
            )
            entries = [(entry_id, fields) for _, batch in reply for entry_id, fields in batch if fields]
            if entries:
                await commands.handle(entries)
        except Exception:  # stopping anyway: what is left is claimed by another worker
            log.exception("could not finish this worker's pending commands before stopping")

    async def close() -> None:
        await redis.aclose()
        await engine.dispose()

    return FastStream(
        broker,
        on_startup=[prepare],
        after_startup=starting,
        on_shutdown=shutting_down,
        after_shutdown=[finish_own_pending, close],
    )


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def set_event() -> None:
        event.set()

    return set_event


def _subscribe(broker: RedisBroker, settings: Settings, consumer: str, handlers: Handlers) -> None:
    """Three batch subscribers, each acknowledging entry by entry once its effect is committed."""

    def read(stream: str, claim_idle_ms: int | None = None) -> "StreamSub[Literal[True]]":
        return StreamSub(
            stream,
            group=WORKERS_GROUP,
            consumer=consumer,
            batch=True,
            max_records=settings.worker_batch,
            min_idle_time=claim_idle_ms,
            # A claimer has no blocking read to wait in: it sleeps this long when there is nothing to claim.
            polling_interval=settings.worker_poll_ms if claim_idle_ms is None else CLAIM_POLL_MS,
        )

    @broker.subscriber(stream=read(COMMANDS_STREAM), ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def apply_commands(message: RedisBatchStreamMessage) -> None:
        await handlers.commands.handle(entries_of(message))

    # A claimer only (FastStream's XAUTOCLAIM subscriber): takes over what stayed pending too long.
    claims = read(COMMANDS_STREAM, claim_idle_ms=settings.claim_idle_ms)

    @broker.subscriber(stream=claims, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def retry_commands(message: RedisBatchStreamMessage) -> None:
        await handlers.redelivery.handle(entries_of(message))

    updates = read(FIXTURE_UPDATES_STREAM)

    @broker.subscriber(stream=updates, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def apply_fixture_updates(message: RedisBatchStreamMessage) -> None:
        await handlers.updates.handle(entries_of(message))


async def serve(settings: Settings) -> None:
    """Run until stopped. FastStream stops the app when a stream's group vanished (Redis wiped or
    restarted without persistence); we say so and start again, which re-creates what is missing."""
    while True:
        await create_app(settings).run()
        if await _groups_exist(settings):
            return
        log.error("the commands or fixture-updates group vanished (Redis wiped?); re-creating them")


async def _groups_exist(settings: Settings) -> bool:
    redis: Redis = open_redis(settings.redis_url)
    try:
        for stream in (COMMANDS_STREAM, FIXTURE_UPDATES_STREAM):
            groups = await redis.xinfo_groups(stream)
            if not any(g["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()) for g in groups):
                return False
    except ResponseError:  # no such stream
        return False
    finally:
        await redis.aclose()
    return True


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    asyncio.run(serve(settings))
