"""The backlog of SPEC §4 and the workers' lag gauge across a Redis restart from the append-only file.

Each test runs on the embedded Valkey and on the machine's redis-server. Redis 7.0 (Debian's) restores
a consumer group without its read counter, or with the one of its last AOF rewrite
(domain/scripts/undelivered.lua): there the tests failed before the backlog was counted; Valkey restores
the counters and keeps them right.
"""

import asyncio
from typing import Any

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from delivery.redis_appends import StreamAppends
from domain.commands import ActivatePackage
from domain.fixtures import encode_fixture
from domain.messages import MessageType, envelope
from domain.package_view import PackageView
from domain.packages import package_state
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, fixtures_queue
from ingress.app import create_app
from tests.e2e.processes import PersistentRedis, add_packages, connect, drained
from tests.fixture_factory import fixture
from tests.support import (
    BODY,
    PACKAGE_ID,
    STATUS,
    TRIGGER,
    add_fixtures,
    add_package,
    append_commands,
    asgi_client,
    eventually,
    hold,
    until_complete,
)
from worker.app import create_app as create_worker
from worker.consumers import GroupMonitor

LIMIT = 50
QUEUE = fixtures_queue(PACKAGE_ID)


async def restart(server: PersistentRedis) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start_again)


async def read_everything(redis: Redis) -> None:
    """What the customer does: read the queue through its group and acknowledge."""
    reply: Any = await redis.xreadgroup("customer", "reader", {QUEUE: ">"})
    for _, entries in reply or []:
        await redis.xack(QUEUE, "customer", *[entry_id for entry_id, _ in entries])


def messages(first_id: int, count: int) -> list[bytes]:
    return [
        envelope(MessageType.FIXTURE, encode_fixture(fixture(i))).body
        for i in range(first_id, first_id + count)
    ]


async def test_a_customer_who_read_everything_before_a_restart_gets_the_next_snapshot_whole(
    restartable_redis: PersistentRedis, database_url: str
) -> None:
    """80 messages in the queue (more than the limit of 50), all read and acknowledged; Redis restarts;
    one update arrives, then a snapshot of 30: all of it is published, and the package stays active."""
    settings = Settings(
        redis_url=restartable_redis.url,
        database_url=database_url,
        queue_limit=LIMIT,
        keepalive_s=0,
        heartbeat_s=0,
    )
    engine = open_engine(database_url)
    await add_package(engine)
    await add_fixtures(engine, [fixture(i) for i in range(1, 31)])
    async with engine.connect() as conn:
        state: Any = await package_state(conn, PACKAGE_ID)
    await engine.dispose()
    async with connect(settings.redis_url) as redis:
        await PackageView(redis).remember(PACKAGE_ID, state)
        await redis.xgroup_create(QUEUE, "customer", id="0", mkstream=True)
        for first in range(100, 180, 20):
            assert (await StreamAppends(redis, LIMIT).publish(PACKAGE_ID, messages(first, 20))).result == "ok"
            await read_everything(redis)
        assert await redis.xlen(QUEUE) == 80
    await restart(restartable_redis)

    async with connect(settings.redis_url) as redis:
        update = await StreamAppends(redis, LIMIT).publish(PACKAGE_ID, messages(500, 1))
        app = create_app(settings)
        async for _ in hold(app.lifespan()):
            async with asgi_client(app) as client:
                async for _ in hold(create_worker(settings, consumer="after-restart")):
                    request_id = (await client.post(TRIGGER, json=BODY)).json()["requestId"]
                    queued = await until_complete(redis, request_id)
                    unread = (await client.post(STATUS, json=BODY)).json()
                    # Counted once, then reported by Redis itself again.
                    groups: Any = await redis.xinfo_groups(QUEUE)
                    await read_everything(redis)
                    read = (await client.post(STATUS, json=BODY)).json()

    assert update.result == "ok"
    snapshot = [m for m in queued if m.header.RequestId == request_id]
    assert [m.body["fixtureId"] for m in snapshot[:-1]] == list(range(1, 31))
    assert snapshot[-1].body == {"requestId": request_id, "fixtureCount": 30}
    assert (unread["status"], unread["queue"]["lag"], groups[0]["lag"]) == ("active", 32, 32)
    assert (read["status"], read["queue"]["lag"]) == ("active", 0)


def lag_gauge() -> float | None:
    return REGISTRY.get_sample_value("livescore_stream_lag", {"stream": COMMANDS_STREAM})


async def rewritten(redis: Redis) -> bool:
    persistence: Any = await redis.info("persistence")
    return not persistence["aof_rewrite_in_progress"] and not persistence["aof_rewrite_scheduled"]


async def test_the_lag_gauge_after_a_restart_shows_what_the_workers_have_not_read(
    restartable_redis: PersistentRedis, database_url: str
) -> None:
    """A worker reads 4 commands, Redis rewrites its AOF, the worker reads 996 more; Redis restarts.
    Redis 7.0 then reported a lag of 996 (the read counter of the rewrite), with nothing left to read."""
    settings = Settings(
        redis_url=restartable_redis.url, database_url=database_url, keepalive_s=0, heartbeat_s=0
    )
    await add_packages(database_url, [PACKAGE_ID])
    activate = ActivatePackage(package_id=PACKAGE_ID).to_fields()
    async with connect(settings.redis_url) as redis:
        async for _ in hold(create_worker(settings, consumer="before-restart")):
            await append_commands(redis, [activate] * 4)
            await eventually(lambda: drained(redis), 30, "4 commands read")
            await redis.bgrewriteaof()
            await eventually(lambda: rewritten(redis), 10, "the AOF rewritten")
            await append_commands(redis, [activate] * 996)
            await eventually(lambda: drained(redis), 30, "996 more commands read")
    await restart(restartable_redis)

    async with connect(settings.redis_url) as redis:
        monitor = GroupMonitor(redis, "me", idle_ms=30_000)
        await monitor.refresh()
        nothing_to_read = lag_gauge()
        await append_commands(redis, [activate])
        await monitor.refresh()
        one_to_read = lag_gauge()
    assert (nothing_to_read, one_to_read) == (0, 1)
