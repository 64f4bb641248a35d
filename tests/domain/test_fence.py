"""The deactivation fence's scripts (domain/scripts/fence.py), on a real Redis."""

import asyncio

from redis.asyncio import Redis

from domain.scripts.fence import register_publishing, still_publishing
from domain.scripts.runner import RedisPyScripts
from domain.streams import PUBLISHING_BATCHES, package_view


async def test_a_batch_reads_the_statuses_it_registered_with_and_the_fence_counts_it_until_it_leaves(
    redis: Redis,
) -> None:
    scripts = RedisPyScripts(redis)
    await redis.hset(package_view(1), "status", "active")
    await redis.hset(package_view(2), "status", "inactive")
    assert await register_publishing("b1", [1, 2, 3, 1]).run(scripts) == [True, False, False, True]
    moment, publishing = await still_publishing(0, 30_000).run(scripts)
    assert publishing == 1
    await asyncio.sleep(0.01)  # the same millisecond as the moment counts as before it (the safe side)
    await register_publishing("b2", [1]).run(scripts)  # after the moment: not waited for
    assert (await still_publishing(moment, 30_000).run(scripts))[1] == 1
    await redis.zrem(PUBLISHING_BATCHES, "b1")
    assert await still_publishing(moment, 30_000).run(scripts) == (moment, 0)


async def test_a_batch_older_than_the_longest_publish_is_a_dead_workers_and_is_dropped(redis: Redis) -> None:
    scripts = RedisPyScripts(redis)
    seconds, _ = await redis.time()
    await redis.zadd(PUBLISHING_BATCHES, {"dead": (int(seconds) - 60) * 1000, "alive": int(seconds) * 1000})
    _, publishing = await still_publishing(0, 30_000).run(scripts)
    assert publishing == 1
    assert await redis.zrange(PUBLISHING_BATCHES, 0, -1) == [b"alive"]
