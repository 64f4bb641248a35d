"""Incidents from the feed to the packages' incidents queues: content, subscriptions, waiting, dead."""

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.main import app
from domain.messages import MessageType, envelope
from domain.packages import package_state
from domain.settings import Settings
from domain.streams import INCIDENT_DEAD_LETTERS_STREAM, INCIDENTS_STREAM, incidents_queue
from tests.conftest import hold
from tests.fixture_factory import ATP, FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture, incident
from tests.support import add_fixtures, add_package, eventually
from worker.app import create_app as create_worker


class Header(msgspec.Struct):
    MessageId: str
    Timestamp: str
    MessageType: int
    FixtureId: int | None = None
    LeagueId: int | None = None
    SportId: int | None = None


class Message(msgspec.Struct):
    header: Header
    body: dict[str, Any] | None = None


async def publish_incident(redis: Redis, body: Any) -> bytes:
    """Append an incident to the feed's stream as the feed does (a body that is not a dict goes as is)."""
    data = msgspec.json.encode(body) if isinstance(body, dict) else body
    message = envelope(MessageType.INCIDENT, data).body
    entry_id: Any = await redis.xadd(INCIDENTS_STREAM, {"message": message})
    return bytes(entry_id)


async def incidents_of(redis: Redis, package_id: int) -> list[Message]:
    entries: Any = await redis.xrange(incidents_queue(package_id))
    assert all(list(fields) == [b"message"] for _, fields in entries)
    return [msgspec.json.decode(fields[b"message"], type=Message) for _, fields in entries]


async def ids_in(redis: Redis, package_id: int) -> list[int]:
    return [m.body["id"] for m in await incidents_of(redis, package_id) if m.body is not None]


async def dead_incidents(redis: Redis) -> list[dict[str, str]]:
    entries: Any = await redis.xrange(INCIDENT_DEAD_LETTERS_STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """A short wait for unknown fixtures and short leases, so that the tests see both play out quickly."""
    return dataclasses.replace(settings, incident_wait_s=1.0, incident_lease_ms=1500)


@pytest.fixture
async def quick_worker(quick: Settings) -> AsyncIterator[None]:
    async for _ in hold(create_worker(quick, consumer="incidents-test")):
        yield


@pytest.mark.usefixtures("quick_worker")
async def test_an_incident_reaches_every_active_subscribed_package_with_its_fixture_in_the_header(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(1, status=2), fixture(2, status=2, sport=TENNIS, league=ATP)])
    await add_package(engine, 1, active=True)
    await add_package(engine, 2, active=True, sports=[FOOTBALL])
    await add_package(engine, 3, active=True, sports=[TENNIS])
    await add_package(engine, 4, active=False)
    await add_package(engine, 5, active=True, leagues=[PREMIER_LEAGUE])
    sent = incident(11, 1, values=[{"position": 1, "value": 2}, {"position": 2, "value": 1}], status="Live")
    await publish_incident(redis, sent)
    await publish_incident(redis, incident(12, 2, kind="Period", status="Started"))
    await eventually(lambda: _has(redis, 3, 1))
    await eventually(lambda: _has(redis, 5, 1))
    await eventually(lambda: _has(redis, 1, 2))
    assert await ids_in(redis, 1) == [11, 12]
    assert await ids_in(redis, 2) == [11]
    assert await ids_in(redis, 3) == [12]
    assert await ids_in(redis, 4) == []
    assert await ids_in(redis, 5) == [11]
    first = (await incidents_of(redis, 2))[0]
    assert first.header.MessageType == 2
    header = first.header
    assert (header.FixtureId, header.SportId, header.LeagueId) == (1, FOOTBALL, PREMIER_LEAGUE)
    assert first.body == sent
    assert first.header.Timestamp.endswith("Z")
    upstream: Any = await redis.xrange(INCIDENTS_STREAM, count=1)
    assert first.header.MessageId not in upstream[0][1][b"message"].decode()


async def _has(redis: Redis, package_id: int, count: int) -> bool:
    return len(await incidents_of(redis, package_id)) >= count


@pytest.mark.usefixtures("quick_worker")
async def test_an_inactive_package_gets_no_incident(engine: AsyncEngine, redis: Redis) -> None:
    await add_fixtures(engine, [fixture(1, status=2)])
    await add_package(engine, 1, active=False)
    await add_package(engine, 2, active=True)
    for i in range(5):
        await publish_incident(redis, incident(i, 1))
    await eventually(lambda: _has(redis, 2, 5))
    assert await redis.exists(incidents_queue(1)) == 0


@pytest.mark.usefixtures("quick_worker")
async def test_an_incident_of_an_unknown_fixture_waits_then_is_dead_while_other_fixtures_flow(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(2, status=2)])
    await add_package(engine, 1, active=True)
    await publish_incident(redis, incident(1, 99))
    await publish_incident(redis, incident(2, 2))
    await publish_incident(redis, incident(3, 99))
    await publish_incident(redis, incident(4, 2))
    await eventually(lambda: _has(redis, 1, 2))
    assert await ids_in(redis, 1) == [2, 4]
    await eventually(lambda: _dead_count(redis, 2))
    dead = await dead_incidents(redis)
    assert [msgspec.json.decode(d["message"])["body"]["id"] for d in dead] == [1, 3]
    assert all("fixture 99 not in storage" in d["error"] for d in dead)
    assert await ids_in(redis, 1) == [2, 4]


async def _dead_count(redis: Redis, count: int) -> bool:
    return bool(await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM) >= count)


@pytest.mark.usefixtures("quick_worker")
async def test_later_incidents_of_a_waiting_fixture_wait_behind_it_and_follow_it_in_order(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine, 1, active=True)
    for i in range(1, 4):
        await publish_incident(redis, incident(i, 7))
    await publish_incident(redis, incident(4, 8))
    await add_fixtures(engine, [fixture(8, status=2)])
    await eventually(lambda: _has(redis, 1, 1))
    assert await ids_in(redis, 1) == [4]
    await add_fixtures(engine, [fixture(7, status=2)])
    await eventually(lambda: _has(redis, 1, 4))
    assert await ids_in(redis, 1) == [4, 1, 2, 3]
    assert await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM) == 0


@pytest.mark.usefixtures("quick_worker")
async def test_a_malformed_incident_is_dead_at_once_and_does_not_block_the_next(
    engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(1, status=2)])
    await add_package(engine, 1, active=True)
    await redis.xadd(INCIDENTS_STREAM, {"message": b"{not json"})
    await publish_incident(redis, {"id": 5, "fixtureId": 1, "kind": "Score"})  # no confidence
    await redis.xadd(INCIDENTS_STREAM, {"other": b"field"})
    await publish_incident(redis, incident(6, 1))
    await eventually(lambda: _has(redis, 1, 1))
    await eventually(lambda: _dead_count(redis, 3))
    assert await ids_in(redis, 1) == [6]
    errors = [d["error"] for d in await dead_incidents(redis)]
    assert all(e.startswith("malformed") for e in errors)
    assert "confidence" in errors[1]


@pytest.fixture
def cli(quick: Settings) -> Any:
    runner = CliRunner()

    async def invoke(*args: str) -> Any:
        # In a thread: the CLI runs its own event loop, which cannot nest in the test's.
        return await asyncio.to_thread(runner.invoke, app, list(args), obj=quick)

    return invoke


@pytest.mark.usefixtures("quick_worker")
async def test_a_dead_incident_retried_by_the_operator_is_delivered_late(
    engine: AsyncEngine, redis: Redis, cli: Any
) -> None:
    await add_package(engine, 1, active=True)
    await publish_incident(redis, incident(1, 7))
    await eventually(lambda: _dead_count(redis, 1))
    await add_fixtures(engine, [fixture(7, status=2)])
    await publish_incident(redis, incident(2, 7))
    await eventually(lambda: _has(redis, 1, 1))

    listed = await cli("dead", "list", "--incidents")
    assert listed.exit_code == 0, listed.output
    (letter,) = [json.loads(line) for line in listed.output.splitlines()]
    assert json.loads(letter["message"])["body"]["id"] == 1
    assert "fixture 7 not in storage" in letter["error"]
    retried = await cli("dead", "retry", letter["id"], "--incidents")
    assert retried.exit_code == 0, retried.output
    await eventually(lambda: _has(redis, 1, 2))
    assert await ids_in(redis, 1) == [2, 1]
    assert await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM) == 0
    commands = await cli("dead", "list")
    assert (commands.exit_code, commands.output) == (0, "")


async def test_retrying_a_dead_incident_that_does_not_exist_fails_with_one_line(cli: Any) -> None:
    result = await cli("dead", "retry", "1-1", "--incidents")
    assert result.exit_code == 1
    assert result.output.strip() == "livescore: No dead incident 1-1"


async def test_a_full_incidents_queue_deactivates_its_package(
    quick: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Limit 3, five incidents: three are delivered, the rest is not, and the service deactivates. What
    the queue refused is counted as refused, not as forwarded."""
    await add_fixtures(engine, [fixture(1, status=2)])
    await add_package(engine, 1, active=True)
    before = {result: _incidents(result) for result in ("forwarded", "refused")}
    async for _ in hold(create_worker(dataclasses.replace(quick, queue_limit=3), consumer="limited")):
        for i in range(1, 6):
            await publish_incident(redis, incident(i, 1))
        await eventually(lambda: _status_is(engine, 1, "inactive"))
        await eventually(lambda: _handled(before, 5))
    assert await ids_in(redis, 1) == [1, 2, 3]
    # Refused while the deactivation was on its way; any after it found the package inactive.
    assert _incidents("refused") - before["refused"] >= 1
    async with engine.connect() as conn:
        state = await package_state(conn, 1)
    assert state is not None
    assert state.reason == "queue-limit"


def _incidents(result: str) -> float:
    return REGISTRY.get_sample_value("livescore_incidents_total", {"result": result}) or 0.0


async def _handled(before: dict[str, float], count: int) -> bool:
    """Whether `count` incidents more were forwarded or refused since `before`."""
    return sum(_incidents(result) - value for result, value in before.items()) == count


async def _status_is(engine: AsyncEngine, package_id: int, status: str) -> bool:
    async with engine.connect() as conn:
        state = await package_state(conn, package_id)
    return state is not None and state.status.value == status
