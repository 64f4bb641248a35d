"""Watching the consumer groups: pending and lag as metrics, and consumers of workers that are gone removed
once they hold nothing.

A live worker polls every LIVESCORE_WORKER_POLL_MS, so its idle time stays far below the claim idle time;
a consumer idle longer than that with nothing pending belonged to a process that stopped. Should a live
worker ever be removed, its next read simply creates it again.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from worker.metrics import CONSUMERS, LAG, PENDING

log = logging.getLogger("worker.consumers")


# How often the group metrics are refreshed.
REFRESH_S = 5.0


@dataclass
class GroupMonitor:
    redis: Redis
    me: str
    idle_ms: int
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
            groups: Any = await self.redis.xinfo_groups(stream)
            for group in groups:
                if group["name"] in (WORKERS_GROUP, WORKERS_GROUP.encode()):
                    PENDING.labels(stream).set(group["pending"])
                    LAG.labels(stream).set(group.get("lag") or 0)
                    CONSUMERS.labels(stream).set(group["consumers"])

    async def _run(self) -> None:
        since_sweep = 0.0
        while True:
            await asyncio.sleep(REFRESH_S)
            since_sweep += REFRESH_S
            try:
                await self.refresh()
                if since_sweep * 1000 >= self.idle_ms:
                    since_sweep = 0.0
                    await self.sweep()
            except RedisError as exc:  # Redis away for a moment: the next round will do
                log.warning("could not inspect the consumer groups: %s", exc)
