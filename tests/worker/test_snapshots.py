"""Snapshots end to end: trigger over HTTP, fan-out by the worker, messages on the package's queue."""

import asyncio
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture
from domain.streams import COMMANDS_STREAM, fixtures_queue
from tests.conftest import PACKAGE_ID, PASSWORD, USERNAME
from tests.fixture_factory import ATP, FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture

TRIGGER = "/api/livescore/snapshots/trigger"
BODY = {"packageId": PACKAGE_ID, "username": USERNAME, "password": PASSWORD}


class Header(msgspec.Struct):
    MessageId: str
    Timestamp: str
    MessageType: int
    RequestId: str | None = None


class Message(msgspec.Struct):
    header: Header
    body: dict[str, Any]


async def add_package(engine: AsyncEngine, *, active: bool = True, **subscriptions: Any) -> None:
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, USERNAME, PASSWORD, active=active, **subscriptions)


async def store(engine: AsyncEngine, fixtures: list[Fixture]) -> None:
    async with engine.begin() as conn:
        await store_fixtures(conn, fixtures)


async def queue_messages(redis: Redis, package_id: int = PACKAGE_ID) -> list[Message]:
    entries: Any = await redis.xrange(fixtures_queue(package_id))
    assert all(list(fields) == [b"message"] for _, fields in entries)
    return [msgspec.json.decode(fields[b"message"], type=Message) for _, fields in entries]


async def until_complete(redis: Redis, request_id: str, timeout_s: float = 10) -> list[Message]:
    """The queue's messages once the completion of this snapshot is among them."""
    for _ in range(int(timeout_s / 0.05)):
        messages = await queue_messages(redis)
        if any(m.header.MessageType == 100 and m.header.RequestId == request_id for m in messages):
            return messages
        await asyncio.sleep(0.05)
    raise AssertionError(f"snapshot {request_id} did not complete")


async def trigger(client: httpx.AsyncClient) -> str:
    response = await client.post(TRIGGER, json=BODY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Livescore snapshot request sent successfully"
    return str(body["requestId"])


@pytest.mark.usefixtures("worker")
async def test_a_snapshot_sends_every_upcoming_fixture_then_one_completion(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await store(
        engine, [fixture(i, status=s) for i, s in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 9], start=1)]
    )
    request_id = await trigger(client)
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
    await store(engine, [fixture(1, status=3)])
    request_id = await trigger(client)
    messages = await until_complete(redis, request_id)
    assert [(m.header.MessageType, m.body) for m in messages] == [
        (100, {"requestId": request_id, "fixtureCount": 0})
    ]


@pytest.mark.usefixtures("worker")
async def test_a_snapshot_honours_sports_and_leagues(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine, sports=[FOOTBALL], leagues=[ATP])
    await store(
        engine,
        [
            fixture(1, sport=FOOTBALL, league=PREMIER_LEAGUE),
            fixture(2, sport=TENNIS, league=ATP),
            fixture(3, sport=TENNIS, league=3002),
            fixture(4, sport=FOOTBALL, league=1002),
        ],
    )
    request_id = await trigger(client)
    messages = await until_complete(redis, request_id)
    assert [m.body["fixtureId"] for m in messages[:-1]] == [1, 2, 4]


@pytest.mark.usefixtures("worker")
async def test_a_large_snapshot_arrives_whole_and_in_order(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await store(engine, [fixture(i) for i in range(1, 2501)])
    request_id = await trigger(client)
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
    first = await trigger(client)
    again = [await trigger(client) for _ in range(3)]
    assert again == [first] * 3
    assert await redis.xlen(COMMANDS_STREAM) == 1


@pytest.mark.usefixtures("worker")
async def test_a_trigger_after_completion_starts_a_new_snapshot(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    await store(engine, [fixture(1)])
    first = await trigger(client)
    await until_complete(redis, first)
    second = await trigger(client)
    assert second != first
    messages = await until_complete(redis, second)
    assert [m.header.RequestId for m in messages] == [first, first, second, second]
