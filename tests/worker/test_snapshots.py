"""Snapshots end to end: trigger over HTTP, fan-out by the worker, messages on the package's queue."""

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.streams import COMMANDS_STREAM
from tests.fixture_factory import ATP, FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture
from tests.support import BODY, TRIGGER, add_fixtures, add_package, trigger_snapshot, until_complete


@pytest.mark.usefixtures("worker")
async def test_a_snapshot_sends_every_upcoming_fixture_then_one_completion(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await add_fixtures(
        engine, [fixture(i, status=s) for i, s in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 9], start=1)]
    )
    request_id = await trigger_snapshot(client)
    messages = await until_complete(redis, request_id)
    fixtures, last = messages[:-1], messages[-1]
    assert [m.body["fixtureId"] for m in fixtures] == [1, 9, 10, 11]
    assert all(m.header.MessageType == 1 and m.header.RequestId == request_id for m in fixtures)
    assert len({m.header.MessageId for m in messages}) == len(messages)
    assert last.header.MessageType == 100
    assert last.body == {"requestId": request_id, "fixtureCount": 4}
    assert fixtures[0].body == msgspec.to_builtins(fixture(1))


@pytest.mark.usefixtures("worker")
async def test_a_snapshot_of_nothing_still_completes(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(1, status=3)])
    request_id = await trigger_snapshot(client)
    messages = await until_complete(redis, request_id)
    assert [(m.header.MessageType, m.body) for m in messages] == [
        (100, {"requestId": request_id, "fixtureCount": 0})
    ]


@pytest.mark.usefixtures("worker")
async def test_a_snapshot_honours_sports_and_leagues(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine, sports=[FOOTBALL], leagues=[ATP])
    await add_fixtures(
        engine,
        [
            fixture(1, sport=FOOTBALL, league=PREMIER_LEAGUE),
            fixture(2, sport=TENNIS, league=ATP),
            fixture(3, sport=TENNIS, league=3002),
            fixture(4, sport=FOOTBALL, league=1002),
        ],
    )
    request_id = await trigger_snapshot(client)
    messages = await until_complete(redis, request_id)
    assert [m.body["fixtureId"] for m in messages[:-1]] == [1, 2, 4]


@pytest.mark.usefixtures("worker")
async def test_a_large_snapshot_arrives_whole_and_in_order(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(i) for i in range(1, 2501)])
    request_id = await trigger_snapshot(client)
    messages = await until_complete(redis, request_id)
    assert [m.body["fixtureId"] for m in messages[:-1]] == list(range(1, 2501))
    assert messages[-1].body["fixtureCount"] == 2500


async def test_a_snapshot_of_an_inactive_package_is_refused_and_nothing_is_enqueued(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine, active=False)
    response = await client.post(TRIGGER, json=BODY)
    assert response.status_code == 400
    assert response.json() == {"error": "Package is inactive"}
    assert await redis.xlen(COMMANDS_STREAM) == 0


async def test_triggers_while_a_snapshot_is_queued_get_its_request_id(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    first = await trigger_snapshot(client)
    again = [await trigger_snapshot(client) for _ in range(3)]
    assert again == [first] * 3
    assert await redis.xlen(COMMANDS_STREAM) == 1


@pytest.mark.usefixtures("worker")
async def test_a_trigger_after_completion_starts_a_new_snapshot(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(1)])
    first = await trigger_snapshot(client)
    await until_complete(redis, first)
    second = await trigger_snapshot(client)
    assert second != first
    messages = await until_complete(redis, second)
    assert [m.header.RequestId for m in messages] == [first, first, second, second]
