"""The worker's composition root: builds the FastStream app from settings (the Procfile's `worker`)."""

import logging
import os
import socket

from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from redis.asyncio import Redis

from domain.command_log import ensure_consumer_group
from domain.fixtures_queue import FixturesQueue
from domain.logs import configure_logging
from domain.package_view import PackageView
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from worker.entries import entries_of, keep_raw_entries
from worker.handlers import CommandHandler
from worker.redelivery import Redelivery
from worker.snapshots import SnapshotRunner
from worker.updates import UpdateHandler

# How often a worker looks for commands abandoned by dead workers when it found none the last time.
CLAIM_POLL_MS = 1000


def consumer_name() -> str:
    """Unique per process and readable by an operator looking at XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}"


def create_app(settings: Settings | None = None, consumer: str | None = None) -> FastStream:
    settings = settings or Settings.from_env()
    # FastStream logs every message it handles; at DEBUG those lines cost nothing on the hot path.
    broker = RedisBroker(settings.redis_url, log_level=logging.DEBUG)
    redis: Redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    engine = open_engine(settings.database_url)
    view = PackageView(redis)
    queue = FixturesQueue(redis, settings.queue_limit, settings.commands_maxlen)
    consumer = consumer or consumer_name()
    handler = CommandHandler(engine, redis, view, SnapshotRunner(engine, redis, view, queue, consumer))

    commands = StreamSub(
        COMMANDS_STREAM,
        group=WORKERS_GROUP,
        consumer=consumer,
        batch=True,
        max_records=settings.worker_batch,
        polling_interval=settings.worker_poll_ms,
    )

    # Acknowledged by the handler itself, entry by entry, once each effect is committed.
    @broker.subscriber(stream=commands, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def apply_commands(message: RedisBatchStreamMessage) -> None:
        await handler.handle(entries_of(message))

    redelivery = Redelivery(redis, handler, settings.max_deliveries)
    # Claims, one at a time, what was pending longer than the claim idle time (FastStream's XAUTOCLAIM
    # subscriber); checks every polling interval when there is nothing to claim.
    claims = StreamSub(
        COMMANDS_STREAM,
        group=WORKERS_GROUP,
        consumer=consumer,
        batch=True,
        min_idle_time=settings.claim_idle_ms,
        polling_interval=min(settings.claim_idle_ms, CLAIM_POLL_MS),
    )

    @broker.subscriber(stream=claims, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def retry_commands(message: RedisBatchStreamMessage) -> None:
        await redelivery.handle(entries_of(message))

    updates = UpdateHandler(engine, redis, view, queue)
    update_stream = StreamSub(
        FIXTURE_UPDATES_STREAM,
        group=WORKERS_GROUP,
        consumer=commands.consumer,
        batch=True,
        max_records=settings.worker_batch,
        polling_interval=settings.worker_poll_ms,
    )

    @broker.subscriber(stream=update_stream, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries)
    async def apply_fixture_updates(message: RedisBatchStreamMessage) -> None:
        await updates.handle(entries_of(message))

    async def prepare() -> None:
        await ensure_consumer_group(redis)
        await ensure_consumer_group(redis, FIXTURE_UPDATES_STREAM)

    async def close() -> None:
        await redis.aclose()
        await engine.dispose()

    return FastStream(broker, on_startup=[prepare], after_shutdown=[close])


def main() -> None:
    import asyncio

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    asyncio.run(create_app(settings).run())
