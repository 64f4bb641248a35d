"""Storage down, then back: a PostgreSQL server the test starts, stops and starts again.

The server is the test's own (tests/postgres_server.py), so these run in the SQLite run and in the
PostgreSQL run alike, beside the same real Redis as every other test.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from prometheus_client import REGISTRY

from domain import packages
from domain.fixture_store import store_fixtures
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM, DEAD_LETTERS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from ingress.app import create_app
from migrations import schema
from tests.fixture_factory import fixture
from tests.postgres_server import ThrowawayPostgres
from tests.support import (
    ACTIVATE,
    BODY,
    DEACTIVATE,
    PACKAGE_ID,
    PASSWORD,
    STATUS,
    USERNAME,
    asgi_client,
    assert_spec_failure,
    eventually,
    hold,
    publish_update,
    queue_messages,
    trigger_snapshot,
    until_complete,
)
from worker.app import create_app as create_worker

WRONG = {**BODY, "password": "not the password"}


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
        schema.upgrade(server.url)
        yield server
    finally:
        server.close()


@pytest.fixture
async def outage_settings(redis_url: str, postgres: ThrowawayPostgres) -> Settings:
    engine = open_engine(postgres.url)
    async with engine.begin() as conn:
        await packages.add_package(conn, PACKAGE_ID, USERNAME, PASSWORD)
        await store_fixtures(conn, [fixture(1), fixture(2)])
    await engine.dispose()
    # Short timings, so that a worker that counted the outage against the command would dead-letter it
    # well within the outage below.
    return Settings(
        redis_url=redis_url,
        database_url=postgres.url,
        command_timeout_ms=300,
        claim_idle_ms=200,
        max_deliveries=2,
        keepalive_s=0,
        heartbeat_s=0,
    )


async def test_the_ingress_answers_500_and_not_ready_while_storage_is_down_then_recovers(
    postgres: ThrowawayPostgres, outage_settings: Settings
) -> None:
    app = create_app(outage_settings)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            assert (await client.post(STATUS, json=BODY)).status_code == 200
            postgres.stop()
            remembered = await client.post(STATUS, json=BODY)
            needs_storage = await client.post(STATUS, json=WRONG)
            not_ready = await client.get("/ready")
            postgres.start()
            back = await client.post(STATUS, json=WRONG)
            ready = await client.get("/ready")
    # A remembered login is answered from the Redis copy; checking a password needs the stored hash.
    assert remembered.status_code == 200
    assert_spec_failure(needs_storage, "Package storage is unavailable")
    assert not_ready.status_code == 503
    assert not_ready.json() == {
        "status": "unavailable",
        "redis": "ok",
        "storage": "unreachable",
        "delivery": "ok",
        "redisPrimary": ANY,
    }
    assert back.status_code == 400
    assert back.json() == {"error": "Invalid package credentials"}
    assert ready.status_code == 200


@pytest.fixture
async def service(outage_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The ingress and one worker on the throwaway PostgreSQL; a client of the ingress."""
    app = create_app(outage_settings)
    worker = create_worker(outage_settings, consumer="outage-test")
    async for _ in hold(app.lifespan()):
        async for _ in hold(worker):
            async with asgi_client(app) as client:
                yield client


async def test_a_command_accepted_while_storage_is_down_is_applied_when_it_returns(
    postgres: ThrowawayPostgres, service: httpx.AsyncClient, redis: Any
) -> None:
    assert (await service.post(STATUS, json=BODY)).json()["status"] == "inactive"
    postgres.stop()
    accepted = await service.post(ACTIVATE, json=BODY)
    # Ten claim idle times: a worker counting the outage as failed deliveries gives up here. The sleep is
    # the behaviour under test (an outage that lasts), not a wait for something to happen.
    await asyncio.sleep(2.0)
    dead_during = await redis.xlen(DEAD_LETTERS_STREAM)
    (held,) = await redis.xpending_range(COMMANDS_STREAM, WORKERS_GROUP, "-", "+", 10)
    postgres.start()

    async def active() -> bool:
        answer = await service.post(STATUS, json=BODY)
        return bool(answer.json()["status"] == "active")

    await eventually(active)
    await eventually(lambda: _nothing_pending(redis))
    assert accepted.status_code == 202
    assert accepted.json()["message"] == "Package activation accepted and pending"
    assert dead_during == 0
    assert held["consumer"] == b"outage-test"
    assert held["times_delivered"] == 1
    assert await redis.xlen(DEAD_LETTERS_STREAM) == 0


async def test_a_snapshot_and_a_fixture_update_during_an_outage_are_delivered_when_it_ends(
    postgres: ThrowawayPostgres, service: httpx.AsyncClient, redis: Any
) -> None:
    assert (await service.post(ACTIVATE, json=BODY)).status_code == 200
    postgres.stop()
    retries = _storage_retries()
    request_id = await trigger_snapshot(service)
    await publish_update(redis, fixture(3))

    async def both_held_through_the_outage() -> bool:
        held = [await _pending(redis, stream) for stream in (COMMANDS_STREAM, FIXTURE_UPDATES_STREAM)]
        return held == [1, 1] and _storage_retries() >= retries + 2

    await eventually(both_held_through_the_outage, 10, "the worker holds both, waiting for storage")
    postgres.start()
    await until_complete(redis, request_id, timeout_s=15)

    async def update_delivered() -> bool:
        return any(m.body.get("fixtureId") == 3 for m in await queue_messages(redis))

    # The update's own retry may come a few seconds later than the snapshot's.
    await eventually(update_delivered)
    await eventually(lambda: _nothing_pending(redis))
    messages = await queue_messages(redis)
    delivered = {m.body["fixtureId"] for m in messages if m.header.MessageType != 100}
    assert delivered == {1, 2, 3}
    assert [m.header.MessageType for m in messages].count(100) == 1
    assert await redis.xlen(DEAD_LETTERS_STREAM) == 0


async def test_after_a_restart_the_worker_applies_commands_on_fresh_connections(
    postgres: ThrowawayPostgres, service: httpx.AsyncClient, redis: Any
) -> None:
    # The worker's connection from this activation dies with the server; its pool does not test
    # connections before use (domain/transactions.py), so the next batch meets the dead one first.
    await service.post(ACTIVATE, json=BODY)

    async def status_is(expected: str) -> bool:
        return bool((await service.post(STATUS, json=BODY)).json()["status"] == expected)

    await eventually(lambda: status_is("active"))
    postgres.stop()
    postgres.start()
    await service.post(DEACTIVATE, json=BODY)
    await eventually(lambda: status_is("inactive"))
    await eventually(lambda: _nothing_pending(redis))
    assert await redis.xlen(DEAD_LETTERS_STREAM) == 0


async def _nothing_pending(redis: Any) -> bool:
    return await _pending(redis, COMMANDS_STREAM) == 0


async def _pending(redis: Any, stream: str) -> int:
    return int((await redis.xpending(stream, WORKERS_GROUP))["pending"])


def _storage_retries() -> float:
    return REGISTRY.get_sample_value("livescore_storage_retries_total") or 0.0
