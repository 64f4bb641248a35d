"""A worker's background duty, repeated until the worker stops: the group monitor, the housekeeping, the
keep-alives and heartbeats, the incident partitions' leases.

Stopping sets an event the loop checks, and only then cancels the task (to cut a wait short). A
cancellation alone is not enough: redis-py 8.1 loses one that lands inside a command — measured, about
one in eight for a task cancelled while it appends in a loop — and a loop that only a cancellation ends
then runs on, and the worker's stop waits for it forever.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Step = Callable[[], Awaitable[None]]


class Repeating:
    """`step` again and again, `every_s` apart (the first time at once, unless `pause_first`)."""

    def __init__(self, name: str, step: Step, every_s: float, *, pause_first: bool = False) -> None:
        self._name, self._step, self._every_s, self._pause_first = name, step, every_s, pause_first
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        if self._pause_first and await self._told_to_stop(self._every_s):
            return
        while not self._stopping.is_set():
            await self._step()
            if await self._told_to_stop(self._every_s):
                return

    async def _told_to_stop(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()
