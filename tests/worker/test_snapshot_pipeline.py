"""A snapshot's chunks in flight (worker/snapshots.py): the next chunk is sent while the one before is
being confirmed, and a chunk's progress is saved only once it is confirmed, in order.

The Delivery is the real Redis streams one, its confirmations held back by a gate the test opens."""

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from delivery.redis_streams import RedisStreamsDelivery
from domain.command_log import ensure_consumer_group
from domain.commands import TriggerSnapshot
from domain.delivery import Parcel, Published
from domain.settings import Settings
from domain.streams import snapshot_progress
from tests.fixture_factory import fixture
from tests.support import (
    PACKAGE_ID,
    add_fixtures,
    add_package,
    append_command,
    eventually,
    queue_messages,
    read_commands,
    worker_resources,
)
from worker.handlers import apply_commands

CHUNK = 100


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.Future[None]]:
    """One gate per publishing call: its outcome is held until the test opens it."""
    opened: list[asyncio.Future[None]] = []
    original = RedisStreamsDelivery.start_publish

    async def gated(self: RedisStreamsDelivery, parcels: Sequence[Parcel]) -> asyncio.Future[list[Published]]:
        appended = await original(self, parcels)
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        opened.append(gate)

        async def confirmed() -> list[Published]:
            await gate
            return await appended

        return asyncio.ensure_future(confirmed())

    monkeypatch.setattr(RedisStreamsDelivery, "start_publish", gated)
    return opened


async def _progress(redis: Redis, request_id: str) -> dict[bytes, bytes]:
    saved: Any = await redis.hgetall(snapshot_progress(request_id))
    return dict(saved)


async def test_the_next_chunk_is_sent_before_the_last_is_confirmed_and_progress_follows_confirmations(
    settings: Settings, redis: Redis, engine: AsyncEngine, gates: list[asyncio.Future[None]]
) -> None:
    await add_package(engine)
    await add_fixtures(engine, [fixture(i) for i in range(1, 251)])
    await ensure_consumer_group(redis)
    command = TriggerSnapshot(package_id=PACKAGE_ID)
    await append_command(redis, command.to_fields())
    res = dataclasses.replace(
        worker_resources(settings, engine, redis, queue_limit=10_000), snapshot_chunk=CHUNK
    )
    applying = asyncio.ensure_future(apply_commands(res, await read_commands(redis)))
    try:
        # The second chunk goes out while the first's confirmation is held back; nothing is saved yet.
        await eventually(lambda: _at_least(gates, 2), what="the second chunk sent")
        assert len(await queue_messages(redis)) == 2 * CHUNK
        assert await _progress(redis, command.request_id) == {}
        gates[0].set_result(None)
        await eventually(lambda: _saved_after(redis, command.request_id, CHUNK))
        # The first confirmed is saved, not the second (still held): a successor resumes after 100.
        assert (await _progress(redis, command.request_id))[b"sent"] == str(CHUNK).encode()
    finally:
        await _open_until_done(gates, applying)
    assert applying.exception() is None
    messages = await queue_messages(redis)
    assert [m.body["fixtureId"] for m in messages[:-1]] == list(range(1, 251))
    assert messages[-1].body == {"requestId": command.request_id, "fixtureCount": 250}


async def _at_least(gates: list[asyncio.Future[None]], count: int) -> bool:
    return len(gates) >= count


async def _saved_after(redis: Redis, request_id: str, after: int) -> bool:
    return (await _progress(redis, request_id)).get(b"after") == str(after).encode()


async def _open_until_done(gates: list[asyncio.Future[None]], applying: asyncio.Future[Any]) -> None:
    """Every gate opened, those of later chunks too, until the snapshot is done (10 s at most)."""
    deadline = asyncio.get_running_loop().time() + 10
    while not applying.done() and asyncio.get_running_loop().time() < deadline:
        for gate in gates:
            if not gate.done():
                gate.set_result(None)
        await asyncio.sleep(0.01)
    applying.cancel()
    await asyncio.gather(applying, return_exceptions=True)
