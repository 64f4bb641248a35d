"""Redis's clock as the incident partitions read it: close to Redis's own, asked once a second."""

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from worker.redis_clock import READ_EVERY_S, RedisClock


class CountingRedis:
    """The real client, its TIME calls counted."""

    def __init__(self, redis: Redis) -> None:
        self._redis, self.times = redis, 0

    async def time(self) -> Any:
        self.times += 1
        return await self._redis.time()


async def _redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_the_clock_follows_redis_and_asks_it_once_a_second(redis: Redis) -> None:
    counting = CountingRedis(redis)
    clock = RedisClock(counting)  # type: ignore[arg-type]
    for _ in range(50):
        before = await _redis_ms(redis)
        now = await clock.now_ms()
        after = await _redis_ms(redis)
        assert before - 2 <= now <= after + 2
    assert counting.times == 1
    started = time.monotonic()
    while time.monotonic() - started < READ_EVERY_S:
        await clock.now_ms()
        await asyncio.sleep(0.05)
    await clock.now_ms()
    assert counting.times == 2
