"""Broadcasts' shared registrations for the deactivation fence (delivery/fence_registrations.py), on a
real Redis: one registration for the broadcasts of the moment, in the set before any is sent and until
every one sent under it is settled, a successor registered ahead, and nothing left once idle."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from delivery.fence_registrations import SharedRegistrations
from domain.scripts.fence import still_publishing
from domain.scripts.runner import RedisPyScripts
from domain.streams import PUBLISHING_BATCHES
from tests.support import eventually

ROTATE_S = 0.3


@pytest.fixture
async def registrations(redis: Redis) -> AsyncIterator[SharedRegistrations]:
    shared = SharedRegistrations(redis, RedisPyScripts(redis), rotate_s=ROTATE_S)
    yield shared
    await shared.close()


async def _in_set(redis: Redis) -> set[str]:
    members: Any = await redis.zrange(PUBLISHING_BATCHES, 0, -1)
    return {member.decode() for member in members}


async def test_the_broadcasts_of_the_moment_share_one_registration_which_leaves_once_idle(
    redis: Redis, registrations: SharedRegistrations
) -> None:
    first = await registrations.take()
    second = await registrations.take()
    assert second is first
    assert await _in_set(redis) == {first.batch}
    registrations.give_back(first)
    registrations.give_back(second)
    assert await _in_set(redis) == {first.batch}, "withdrawn before it expired"

    async def gone() -> bool:
        return not await _in_set(redis)

    await eventually(gone, what="the idle registration out of the set")


async def test_an_expired_registration_stays_until_the_broadcast_sent_under_it_is_settled(
    redis: Redis, registrations: SharedRegistrations
) -> None:
    """The fence counts it meanwhile: a deactivation waits for that broadcast's confirmation."""
    unsettled = await registrations.take()
    await asyncio.sleep(ROTATE_S * 1.5)
    later = await registrations.take()
    assert later is not unsettled
    assert unsettled.batch in await _in_set(redis)
    _, publishing = await still_publishing(0, 30_000).run(RedisPyScripts(redis))
    assert publishing == 2
    registrations.give_back(unsettled)

    async def left() -> bool:
        return unsettled.batch not in await _in_set(redis)

    await eventually(left, what="the settled registration out of the set")
    assert later.batch in await _in_set(redis)
    registrations.give_back(later)


async def test_a_successor_is_registered_ahead_and_takes_over_as_the_registration_expires(
    redis: Redis, registrations: SharedRegistrations
) -> None:
    """Broadcasts that keep coming never wait for a registration of their own."""
    first = await registrations.take()
    registrations.give_back(first)
    await asyncio.sleep(ROTATE_S * 0.6)
    again = await registrations.take()  # past half its time: the successor is asked for now
    registrations.give_back(again)
    assert again is first
    await asyncio.sleep(ROTATE_S * 0.1)
    ahead = await _in_set(redis) - {first.batch}
    assert len(ahead) == 1, "no successor registered ahead"
    await asyncio.sleep(ROTATE_S * 0.5)  # the first has expired
    successor = await registrations.take()
    registrations.give_back(successor)
    assert successor.batch in ahead
