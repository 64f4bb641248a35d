"""What reaches a package's queue besides snapshots: updates, and nothing once inactive or full."""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from delivery.redis_appends import StreamAppends
from domain.delivery import PublishResult
from domain.models import StoredFixture
from domain.package_view import PackageView
from domain.packages import package_state
from domain.settings import Settings
from domain.streams import FIXTURE_UPDATES_STREAM, fixtures_queue
from ingress.app import create_app
from tests.fixture_factory import FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture
from tests.support import (
    ACTIVATE,
    BODY,
    STATUS,
    TRIGGER,
    add_fixtures,
    add_package,
    asgi_client,
    eventually,
    hold,
    publish_update,
    queue_messages,
)
from worker.app import create_app as create_worker

OLD, NEW = datetime(2030, 4, 1, tzinfo=UTC), datetime(2030, 4, 2, tzinfo=UTC)


async def stored_status(engine: AsyncEngine, fixture_id: int) -> int:
    async with engine.connect() as conn:
        query = select(col(StoredFixture.status)).where(col(StoredFixture.fixture_id) == fixture_id)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.usefixtures("worker")
async def test_a_newer_update_is_stored_and_forwarded_to_active_subscribed_packages(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(1, status=1, last_update=OLD)])
    await add_package(engine, 1, active=True)
    await add_package(engine, 2, active=True, sports=[FOOTBALL])
    await add_package(engine, 3, active=True, sports=[TENNIS])
    await add_package(engine, 4, active=False)
    await add_package(engine, 5, active=True, leagues=[PREMIER_LEAGUE])
    await publish_update(redis, fixture(1, status=2, last_update=NEW))
    await eventually(lambda: _has_messages(redis, 5))
    assert await stored_status(engine, 1) == 2
    for package_id, expected in [(1, 1), (2, 1), (3, 0), (4, 0), (5, 1)]:
        messages = await queue_messages(redis, package_id)
        assert len(messages) == expected, package_id
    forwarded = (await queue_messages(redis, 1))[0]
    assert forwarded.header.MessageType == 1
    assert forwarded.header.RequestId is None
    assert forwarded.body["status"] == 2


async def _has_messages(redis: Redis, package_id: int) -> bool:
    return bool(await redis.xlen(fixtures_queue(package_id)))


@pytest.mark.usefixtures("worker")
async def test_an_older_update_is_dropped(engine: AsyncEngine, redis: Redis) -> None:
    await add_fixtures(engine, [fixture(1, status=2, last_update=NEW)])
    await add_package(engine, 1, active=True)
    await publish_update(redis, fixture(1, status=1, last_update=OLD))
    await publish_update(redis, fixture(2, status=1, last_update=OLD))
    # The second update is new: once it is forwarded, the first has been handled too.
    await eventually(lambda: _has_messages(redis, 1))
    assert await stored_status(engine, 1) == 2
    assert [m.body["fixtureId"] for m in await queue_messages(redis, 1)] == [2]


@pytest.mark.usefixtures("worker")
async def test_an_update_that_is_not_a_fixture_does_not_block_the_next(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine, 1, active=True)
    await redis.xadd(FIXTURE_UPDATES_STREAM, {"message": b"{not json"})
    await redis.xadd(FIXTURE_UPDATES_STREAM, {"other": b"field"})
    await publish_update(redis, fixture(7))
    await eventually(lambda: _has_messages(redis, 1))
    assert [m.body["fixtureId"] for m in await queue_messages(redis, 1)] == [7]


async def test_nothing_is_published_to_an_inactive_package(engine: AsyncEngine, redis: Redis) -> None:
    await add_package(engine, 1, active=False)
    await PackageView(redis).remember(1, await _state(engine, 1))
    published = await StreamAppends(redis, 100).publish(1, [b'{"x":1}'])
    assert (published.result, published.count) == (PublishResult.INACTIVE, 0)
    assert await redis.xlen(fixtures_queue(1)) == 0


async def _state(engine: AsyncEngine, package_id: int) -> Any:
    async with engine.connect() as conn:
        return await package_state(conn, package_id)


async def test_a_full_queue_deactivates_its_package(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Limit 5, a snapshot of 12: five are published, the rest is not, and the service deactivates."""
    limited = dataclasses.replace(settings, queue_limit=5)
    await add_package(engine)
    await add_fixtures(engine, [fixture(i) for i in range(1, 13)])
    app = create_app(limited)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            assert (await client.post(TRIGGER, json=BODY)).status_code == 200
            async for _ in hold(create_worker(limited, consumer="limited")):
                await eventually(lambda: _status_is(client, "inactive"))
                status = (await client.post(STATUS, json=BODY)).json()
                assert (await client.post(ACTIVATE, json=BODY)).status_code == 200
                again = (await client.post(STATUS, json=BODY)).json()
    messages = await queue_messages(redis)
    assert [m.body["fixtureId"] for m in messages] == [1, 2, 3, 4, 5]
    assert all(m.header.MessageType == 1 for m in messages)
    assert (status["status"], status["reason"]) == ("inactive", "queue-limit")
    # The customer's own activation clears the service's reason.
    assert again["status"] == "active"
    assert "reason" not in again


async def _status_is(client: httpx.AsyncClient, expected: str) -> bool:
    response = await client.post(STATUS, json=BODY)
    return bool(response.json()["status"] == expected)


async def test_a_group_that_keeps_up_keeps_the_queue_open(engine: AsyncEngine, redis: Redis) -> None:
    """The backlog is the lag of the customer's consumer group, not the stream's length."""
    await add_package(engine, 1, active=True)
    await PackageView(redis).remember(1, await _state(engine, 1))
    queue = StreamAppends(redis, 3)
    await redis.xgroup_create(fixtures_queue(1), "customer", id="0", mkstream=True)
    for _ in range(4):
        assert (await queue.publish(1, [b"{}", b"{}", b"{}"])).result is PublishResult.OK
        await redis.xreadgroup("customer", "c1", {fixtures_queue(1): ">"})
    assert (await queue.publish(1, [b"{}", b"{}", b"{}", b"{}"])).result is PublishResult.FULL


async def _active_queue(engine: AsyncEngine, redis: Redis, entries: int) -> list[bytes | str]:
    """Package 1, active, its queue holding `entries` messages already; their ids."""
    await add_package(engine, 1, active=True)
    await PackageView(redis).remember(1, await _state(engine, 1))
    return [await redis.xadd(fixtures_queue(1), {"message": b"{}"}) for _ in range(entries)]


async def test_a_group_created_in_the_middle_of_a_queue_counts_only_what_follows_its_id(
    engine: AsyncEngine, redis: Redis
) -> None:
    """80 entries, a group created after the 40th (Redis cannot tell its lag): its backlog is 40."""
    ids = await _active_queue(engine, redis, 80)
    await redis.xgroup_create(fixtures_queue(1), "customer", id=ids[39])
    queue = StreamAppends(redis, 50)
    assert (await queue.publish(1, [b"{}"] * 10)).result is PublishResult.OK
    refused = await queue.publish(1, [b"{}"])
    assert (refused.result, refused.count) == (PublishResult.FULL, 0)


async def test_a_group_moved_with_setid_counts_only_what_follows_its_new_id(
    engine: AsyncEngine, redis: Redis
) -> None:
    """The customer read all 80 entries, then moved its group back to the 70th: its backlog is 10."""
    ids = await _active_queue(engine, redis, 80)
    await redis.xgroup_create(fixtures_queue(1), "customer", id="0")
    await redis.xreadgroup("customer", "c1", {fixtures_queue(1): ">"})
    await redis.xgroup_setid(fixtures_queue(1), "customer", id=ids[69])
    published = await StreamAppends(redis, 50).publish(1, [b"{}"] * 41)
    assert (published.result, published.count) == (PublishResult.FULL, 40)


async def test_a_counted_group_has_its_lag_reported_by_redis_again(engine: AsyncEngine, redis: Redis) -> None:
    ids = await _active_queue(engine, redis, 80)
    await redis.xgroup_create(fixtures_queue(1), "customer", id=ids[39])
    await StreamAppends(redis, 50).publish(1, [b"{}"] * 5)
    await redis.xadd(fixtures_queue(1), {"message": b"{}"})
    groups: Any = await redis.xinfo_groups(fixtures_queue(1))
    assert groups[0]["lag"] == 46


async def test_a_lag_that_redis_overstates_does_not_refuse_a_customer_who_read_everything(
    engine: AsyncEngine, redis: Redis
) -> None:
    """Redis 7.0 restores a group's read counter from its last AOF rewrite: here, as if it had been
    rewritten after the first 10 of 80 entries, so that Redis reports 70 undelivered instead of none."""
    ids = await _active_queue(engine, redis, 80)
    await redis.xgroup_create(fixtures_queue(1), "customer", id="0")
    await redis.xreadgroup("customer", "c1", {fixtures_queue(1): ">"})
    await redis.xgroup_setid(fixtures_queue(1), "customer", id=ids[-1], entries_read=10)
    assert (await StreamAppends(redis, 50).publish(1, [b"{}"] * 50)).result is PublishResult.OK


async def test_a_group_far_behind_is_counted_exactly_from_the_front_of_the_queue(
    engine: AsyncEngine, redis: Redis
) -> None:
    """Most of the queue lies after the group's position: the entries before it are counted instead."""
    ids = await _active_queue(engine, redis, 100)
    await redis.xgroup_create(fixtures_queue(1), "customer", id=ids[9])
    state = await PackageView(redis, queue_limit=50).read(1)
    groups: Any = await redis.xinfo_groups(fixtures_queue(1))
    assert (state.queue.lag, groups[0]["lag"]) == (90, 90)


async def test_a_queue_far_longer_than_its_limit_is_counted_only_past_the_limit(
    engine: AsyncEngine, redis: Redis
) -> None:
    """100 entries under a limit of 10: a count stops after 3 × 10 entries, which is enough to refuse."""
    ids = await _active_queue(engine, redis, 100)
    await redis.xgroup_create(fixtures_queue(1), "customer", id=ids[9])
    published = await StreamAppends(redis, 10).publish(1, [b"{}"])
    assert (published.result, published.count) == (PublishResult.FULL, 0)
    assert (await PackageView(redis, queue_limit=10).read(1)).queue.lag == 31
