"""The worker's composition root: builds the FastStream app from settings (the Procfile's `worker`)."""

import asyncio
import gc
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import uvloop
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.broker.sentinel_broker import RedisSentinelBroker
from faststream.redis.subscriber.usecases.basic import LogicSubscriber
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from domain.command_log import ensure_consumer_group
from domain.connections import open_redis
from domain.http_server import ConnectionLimits
from domain.logs import FASTSTREAM_LOGGER, configure_logging
from domain.settings import Settings
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from worker.beats import Beats
from worker.consumers import GroupMonitor
from worker.entries import Entry, keep_raw_entries, raw_entries
from worker.faststream_patches import UnprefixedStream, apply_patches
from worker.handlers import apply_commands, follow_storage
from worker.housekeeping import Housekeeping
from worker.http import OperationsServer
from worker.metrics import FASTSTREAM_METRICS
from worker.outages import FIRST_PAUSE_S, MAX_PAUSE_S, Backoff
from worker.partitions import IncidentPartitions
from worker.redelivery import retry_commands
from worker.replication import replicated
from worker.resources import Resources
from worker.updates import apply_fixture_updates

log = logging.getLogger("worker")

# How often a worker looks for commands abandoned by dead workers when it found none the last time.
CLAIM_POLL_MS = 1000

Hook = Callable[[], Awaitable[object]]


def consumer_name() -> str:
    """Unique per process and readable by an operator looking at XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}"


def create_app(settings: Settings | None = None, consumer: str | None = None) -> FastStream:
    settings = settings or Settings.from_env()
    apply_patches()
    res = Resources.open(settings, consumer or consumer_name())
    broker = _broker(settings)
    _subscribe(broker, res)
    monitor = GroupMonitor(res.redis, res.consumer, settings.claim_idle_ms)
    # Incidents are read outside the consumer group, by partition (worker/partitions.py); keep-alives and
    # heartbeats go out once per interval for the whole deployment (worker/beats.py).
    incidents, beats = IncidentPartitions(res), Beats(res)
    # The live state's incidents and finished boards are dropped past the recovery window.
    housekeeping = Housekeeping(res)
    # First of all, a handler waiting for storage to return gives up: its entries stay pending.
    starting: list[Hook] = [monitor.start, incidents.start, beats.start, housekeeping.start]
    shutting_down: list[Hook] = [
        _call(res.stopping.set),
        monitor.stop,
        beats.stop,
        housekeeping.stop,
        incidents.stop,
    ]
    if settings.worker_port is not None:
        server = OperationsServer(settings.host, settings.worker_port, ConnectionLimits.of(settings))
        starting.append(server.start)
        shutting_down.append(server.stop)
    # Last, once all is open: what start-up made is out of the collector's way.
    starting.append(_call(gc.freeze))
    return FastStream(
        broker,
        logger=FASTSTREAM_LOGGER,
        on_startup=[_call(_prepare, res)],
        after_startup=starting,
        on_shutdown=shutting_down,
        after_shutdown=[_call(_finish_own_pending, res), res.close],
    )


def _broker(settings: Settings) -> RedisBroker:
    """FastStream's broker on the Redis of the settings; behind Sentinel, FastStream's sentinel broker, whose
    connections ask the sentinels for the primary and so follow a failover."""
    # FastStream logs every message it handles; at DEBUG those lines cost nothing on the hot path.
    # apply_types=False: the handlers take their entries from the decoder, not by injection, which
    # FastDepends resolves on a thread of its pool, one hand-off per batch (docs/BENCHMARKS.md).
    options: dict[str, Any] = {
        "apply_types": False,
        "log_level": logging.DEBUG,
        "logger": FASTSTREAM_LOGGER,
        "middlewares": [FASTSTREAM_METRICS],
    }
    address = settings.redis_address
    if not address.sentinels:
        return RedisBroker(address.url, **options)
    return RedisSentinelBroker(
        address.url, sentinels=address.sentinels, sentinel_master_name=address.master, **options
    )


def _call(function: Callable[..., Any], *args: Any) -> Hook:
    """A FastStream hook of no parameters (FastStream injects hooks' parameters by name)."""

    async def hook() -> None:
        result = function(*args)
        if asyncio.iscoroutine(result):
            await result

    return hook


async def _prepare(res: Resources) -> None:
    # Redis away at start (a primary failing over, a deploy racing its Redis): wait for it, as the
    # running worker does, instead of exiting (which stops every process of `livescore dev`).
    backoff = Backoff(FIRST_PAUSE_S, MAX_PAUSE_S)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((RedisConnectionError, RedisTimeoutError, OSError)),
        wait=lambda _state: backoff.next(),
        before_sleep=_unreachable_at_start,
        reraise=True,
    ):
        with attempt:
            await ensure_consumer_group(res.redis)
            await ensure_consumer_group(res.redis, FIXTURE_UPDATES_STREAM)
    try:
        await follow_storage(res)
    except Exception as exc:  # storage or the broker away: the worker starts all the same
        log.warning("package queues not checked against storage at start: %s", type(exc).__name__)


def _unreachable_at_start(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome is not None else None
    log.warning("Redis unreachable at start (%s); trying again", type(failure).__name__)


async def _finish_own_pending(res: Resources) -> None:
    """Apply what this worker read but had not applied when told to stop (FastStream may cancel a read in
    flight), so a deploy leaves nothing waiting the claim idle time."""
    try:
        reply: Any = await res.redis.xreadgroup(
            WORKERS_GROUP, res.consumer, {COMMANDS_STREAM: "0"}, res.settings.worker_batch
        )
        entries = [(entry_id, fields) for _, batch in reply for entry_id, fields in batch if fields]
        if entries and await replicated(res, entries):
            await apply_commands(res, entries)
    except Exception:  # stopping anyway: what is left is claimed by another worker
        log.exception("could not finish this worker's pending commands before stopping")


def _subscribe(broker: RedisBroker, res: Resources) -> None:
    """Three batch subscribers, each acknowledging entry by entry once its effect is committed."""
    settings = res.settings

    def read(stream: str, claim_idle_ms: int | None = None) -> "StreamSub[Literal[True]]":
        return UnprefixedStream(
            stream,
            group=WORKERS_GROUP,
            consumer=res.consumer,
            batch=True,
            max_records=settings.worker_batch,
            min_idle_time=claim_idle_ms,
            # A claimer has no blocking read to wait in: it sleeps this long when there is nothing to claim.
            polling_interval=settings.worker_poll_ms if claim_idle_ms is None else CLAIM_POLL_MS,
        )

    def subscriber(stream: "StreamSub[Literal[True]]") -> LogicSubscriber:
        # Raw entries in, acknowledged by the handler entry by entry.
        return broker.subscriber(
            stream=stream, ack_policy=AckPolicy.MANUAL, parser=keep_raw_entries, decoder=raw_entries
        )

    @subscriber(read(COMMANDS_STREAM))
    async def commands(entries: list[Entry]) -> None:
        if await replicated(res, entries):
            await apply_commands(res, entries)

    # A claimer only (FastStream's XAUTOCLAIM subscriber): takes over what stayed pending too long.
    @subscriber(read(COMMANDS_STREAM, claim_idle_ms=settings.claim_idle_ms))
    async def claimed_commands(entries: list[Entry]) -> None:
        if await replicated(res, entries):
            await retry_commands(res, entries)

    @subscriber(read(FIXTURE_UPDATES_STREAM))
    async def fixture_updates(entries: list[Entry]) -> None:
        await apply_fixture_updates(res, entries)


async def serve(settings: Settings) -> None:
    """Run until stopped. FastStream stops the app when a stream's group vanished (Redis wiped or
    restarted without persistence); we say so and start again, which re-creates what is missing."""
    while True:
        await create_app(settings).run()
        if await _groups_exist(settings):
            return
        log.error("the commands or fixture-updates group vanished (Redis wiped?); re-creating them")


async def _groups_exist(settings: Settings) -> bool:
    redis: Redis = open_redis(settings.redis_address)
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
    # uvloop: the incident round is mostly event-loop work (issue 22), which uvloop does for less.
    uvloop.run(serve(settings))
