"""Redis's clock, as the incident partitions count parked incidents' waits on it (whichever worker owns
them): asked once a second, and carried on by this process's monotonic clock in between — one round trip a
second, not one every round (issue 22: each round's own added to every incident's time)."""

import time

from redis.asyncio import Redis

# How long one reading of Redis's clock is carried on locally; waits are counted in tens of seconds.
READ_EVERY_S = 1.0


class RedisClock:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._read_at = float("-inf")
        self._offset_ms = 0.0

    async def now_ms(self) -> int:
        """Redis's time now, in ms (within a round trip of it)."""
        now = time.monotonic()
        if now - self._read_at >= READ_EVERY_S:
            seconds, micros = await self._redis.time()
            now = time.monotonic()
            self._offset_ms = int(seconds) * 1000 + int(micros) / 1000 - now * 1000
            self._read_at = now
        return int(now * 1000 + self._offset_ms)
