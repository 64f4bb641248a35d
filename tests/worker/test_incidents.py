"""Incidents from the feed to the packages' incidents queues: content, subscriptions, waiting, dead."""

import asyncio
import dataclasses
import functools
import json
import logging
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.main import app
from domain.commands import StreamId
from domain.delivery import QueueKind, settled
from domain.fixture_store import FixtureRefs
from domain.incidents import PARTITIONS
from domain.messages import MessageType, envelope
from domain.packages import package_state
from domain.settings import Settings
from domain.streams import (
    INCIDENT_DEAD_LETTERS_STREAM,
    INCIDENT_OFFSETS,
    INCIDENTS_STREAM,
    incidents_parked,
    incidents_parked_fixtures,
    incidents_queue,
)
from tests.fixture_factory import ATP, FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture, incident
from tests.support import add_fixtures, add_package, eventually, hold, publish_incident
from worker import incidents
from worker.app import create_app as create_worker
from worker.incidents import Directory, Ready, start_delivery


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


async def _offsets(redis: Redis) -> dict[int, StreamId]:
    stored: Any = await redis.hgetall(INCIDENT_OFFSETS)
    return {int(p): StreamId.parse(offset) for p, offset in stored.items()}


async def _parked(redis: Redis) -> int:
    return sum([int(await redis.xlen(incidents_parked(p))) for p in range(PARTITIONS)])


async def test_a_burst_of_unknown_fixtures_is_read_past_and_waits_in_redis_not_in_memory(
    quick: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Room for one waiting incident per partition in memory; 200 arrive, then a valid one behind them."""
    await add_fixtures(engine, [fixture(1, status=2)])
    await add_package(engine, 1, active=True)
    bounded = dataclasses.replace(quick, incident_wait_max=PARTITIONS, incident_wait_s=30.0)
    async for _ in hold(create_worker(bounded, consumer="flooded")):
        pipe = redis.pipeline(transaction=False)
        for i in range(200):
            pipe.xadd(INCIDENTS_STREAM, {"message": _upstream(incident(1000 + i, 5000 + i))})
        await pipe.execute()
        valid = StreamId.parse(await publish_incident(redis, incident(1, 1)))
        await eventually(lambda: _has(redis, 1, 1))
        # Read past: every partition's committed offset is at or beyond the valid incident, while the
        # burst still waits — in Redis, and only one per partition in this worker's memory.
        await eventually(functools.partial(_offsets_reach, redis, valid))
        assert await _parked(redis) == 200
        assert (REGISTRY.get_sample_value("livescore_incidents_waiting") or 0) <= PARTITIONS
        assert await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM) == 0
    assert await ids_in(redis, 1) == [1]


async def _offsets_reach(redis: Redis, entry_id: StreamId) -> bool:
    offsets = await _offsets(redis)
    return len(offsets) == PARTITIONS and min(offsets.values()) >= entry_id


def _upstream(body: dict[str, Any]) -> bytes:
    return envelope(MessageType.INCIDENT, msgspec.json.encode(body)).body


async def test_incidents_waiting_beyond_the_memory_bound_are_released_in_order_or_dead_after_their_wait(
    quick: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Fixture 16 (partition 0) waits behind 20 incidents of unknown fixtures of the same partition, with
    room for one in memory: its incidents come back from Redis in order once it is stored."""
    await add_package(engine, 1, active=True)
    bounded = dataclasses.replace(quick, incident_wait_max=PARTITIONS)
    async for _ in hold(create_worker(bounded, consumer="bounded")):
        for i in range(20):
            await publish_incident(redis, incident(100 + i, PARTITIONS * (100 + i)))
        await publish_incident(redis, incident(1, PARTITIONS))
        await publish_incident(redis, incident(2, PARTITIONS))
        await eventually(lambda: _parked_reach(redis, 22))
        await add_fixtures(engine, [fixture(PARTITIONS, status=2)])
        await publish_incident(redis, incident(3, PARTITIONS))
        await eventually(lambda: _has(redis, 1, 3), timeout_s=30)
        await eventually(lambda: _dead_count(redis, 20))
    assert await ids_in(redis, 1) == [1, 2, 3]
    dead = await dead_incidents(redis)
    assert [msgspec.json.decode(d["message"])["body"]["id"] for d in dead] == list(range(100, 120))
    assert await _parked(redis) == 0
    assert await redis.hlen(incidents_parked_fixtures(0)) == 0


async def _parked_reach(redis: Redis, count: int) -> bool:
    return await _parked(redis) >= count


async def test_waiting_incidents_survive_their_worker_and_a_new_owner_keeps_their_order(
    quick: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(8, status=2)])
    await add_package(engine, 1, active=True)
    patient = dataclasses.replace(quick, incident_wait_s=30.0)
    async for _ in hold(create_worker(patient, consumer="first-owner")):
        await publish_incident(redis, incident(1, 7))
        await publish_incident(redis, incident(2, 7))
        await publish_incident(redis, incident(3, 8))
        await eventually(lambda: _has(redis, 1, 1))
        await eventually(lambda: _parked_reach(redis, 2))
    assert await ids_in(redis, 1) == [3]
    # Gone: what waited is in Redis, and the next owner delivers it, in order, before what follows.
    await add_fixtures(engine, [fixture(7, status=2)])
    await publish_incident(redis, incident(4, 7))
    async for _ in hold(create_worker(patient, consumer="next-owner")):
        await eventually(lambda: _has(redis, 1, 4))
    assert await ids_in(redis, 1) == [3, 1, 2, 4]
    assert await _parked(redis) == 0
    assert await redis.xlen(INCIDENT_DEAD_LETTERS_STREAM) == 0


async def test_dead_letters_are_logged_as_one_count_not_one_line_each(
    quick: Settings, engine: AsyncEngine, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.partitions")
    async for _ in hold(create_worker(quick, consumer="dead-counter")):
        for _ in range(30):
            await redis.xadd(INCIDENTS_STREAM, {"message": b"{not json"})
        await eventually(lambda: _dead_count(redis, 30))
    lines = [r for r in caplog.records if r.name == "worker.partitions" and "dead-lettered" in r.getMessage()]
    assert [(r.levelname, r.getMessage().split(" in the last")[0]) for r in lines] == [
        ("WARNING", "30 incidents dead-lettered")
    ]
    assert "malformed: 30" in lines[0].getMessage()


async def test_the_active_packages_are_read_again_after_a_round_is_sent_not_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On SQLite the list is read on the event loop: begun before a send, it held that send up (issue
    22). A unit test of the order: the Delivery and the read are stand-ins that note when they run."""
    order: list[str] = []

    async def read(self: Directory, res: Any) -> None:
        order.append("read")
        self._packages_at = time.monotonic()

    class Delivery:
        async def start_broadcast(self, kind: QueueKind, items: Any) -> asyncio.Future[set[int]]:
            order.append("sent")
            return settled(set())

    monkeypatch.setattr(Directory, "_read_packages", read)
    monkeypatch.setattr(incidents, "PACKAGES_TTL_S", 0.0)  # stale at once
    directory, res = Directory(), SimpleNamespace(delivery=Delivery())
    ready = [Ready(StreamId(1, 0), 1, b"{}", FixtureRefs(FOOTBALL, PREMIER_LEAGUE))]
    for _ in range(2):
        await start_delivery(res, directory, ready)  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # the read, and its end noted
    assert order == ["read", "sent", "read", "sent", "read"]
