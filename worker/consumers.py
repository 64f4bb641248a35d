"""Watching the consumer groups: pending and lag as metrics, and consumers of workers that are gone removed
once they hold nothing.

A live worker polls every LIVESCORE_WORKER_POLL_MS, so its idle time stays far below the claim idle time;
a consumer idle longer than that with nothing pending belonged to a process that stopped. Should a live
worker ever be removed, its next read simply creates it again.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.scripts.groups import group_figures
from domain.scripts.runner import RedisPyScripts
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from worker.metrics import CONSUMERS, LAG, PENDING
from worker.repeating import Repeating

log = logging.getLogger("worker.consumers")


# How often the group metrics are refreshed.
REFRESH_S = 5.0
# The lag gauge counts up to this many entries (~15 ms of Redis time, every refresh of every worker):
# exact below it, whatever Redis reports after a restart; above it, Redis's own figure, or one more than
# this when Redis cannot tell. The commands stream holds up to a million entries: a count of all of them
# every few seconds would cost Redis more than the gauge is worth.
LAG_COUNTED = 10_000


@dataclass
class GroupMonitor:
    redis: Redis
    me: str
    idle_ms: int
    _repeating: Repeating = field(init=False)
    _since_sweep: float = field(default=0.0, init=False)
    _scripts: RedisPyScripts = field(init=False)

    def __post_init__(self) -> None:
        self._scripts = RedisPyScripts(self.redis)
        self._repeating = Repeating("group-monitor", self._look, REFRESH_S, pause_first=True)

    async def start(self) -> None:
        self._repeating.start()

    async def stop(self) -> None:
        await self._repeating.stop()

    async def sweep(self) -> list[str]:
        """Remove departed consumers from both groups; returns their names."""
        removed = []
        for stream in (COMMANDS_STREAM, FIXTURE_UPDATES_STREAM):
            consumers: Any = await self.redis.xinfo_consumers(stream, WORKERS_GROUP)
            for consumer in consumers:
                name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
                if name != self.me and consumer["pending"] == 0 and consumer["idle"] > self.idle_ms:
                    await self.redis.xgroup_delconsumer(stream, WORKERS_GROUP, name)
                    removed.append(name)
        if removed:
            log.info("removed departed consumers: %s", ", ".join(sorted(set(removed))))
        return removed

    async def refresh(self) -> None:
        """Pending, lag and consumers of the workers' group on each stream, as gauges."""
        for stream in (COMMANDS_STREAM, FIXTURE_UPDATES_STREAM):
            call = group_figures(stream=stream, group=WORKERS_GROUP, most=LAG_COUNTED)
            figures = await call.run(self._scripts)
            if figures is not None:
                PENDING.labels(stream).set(figures.pending)
                LAG.labels(stream).set(figures.lag)
                CONSUMERS.labels(stream).set(figures.consumers)

    async def _look(self) -> None:
        self._since_sweep += REFRESH_S
        try:
            await self.refresh()
            if self._since_sweep * 1000 >= self.idle_ms:
                self._since_sweep = 0.0
                await self.sweep()
        except RedisError as exc:  # Redis away for a moment: the next round will do
            log.warning("could not inspect the consumer groups: %s", exc)
