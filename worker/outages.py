"""Waiting out a storage outage instead of failing the commands that happened to be in hand.

A command that cannot be applied because the database is down did nothing wrong: counting that against
its deliveries would dead-letter every command of a long enough outage. So the worker keeps the batch,
retries with a growing pause, and keeps its claim on the entries fresh (XCLAIM JUSTID, which does not
count as a delivery) so no other worker takes them meanwhile. New commands wait unread in the stream.
When the worker is told to stop, it gives up at once and leaves the entries pending for the next one.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.errors import StorageUnavailable
from domain.storage import unreachable
from worker.metrics import STORAGE_RETRIES

log = logging.getLogger("worker.storage")

T = TypeVar("T")

FIRST_PAUSE_S = 0.1
# The longest pause between tries; callers holding stream entries pass less than their claim idle time,
# since the claim is refreshed once per pause.
MAX_PAUSE_S = 5.0


async def while_storage_is_down(
    operation: Callable[[], Awaitable[T]],
    what: str,
    stopping: asyncio.Event,
    keep: Callable[[], Awaitable[object]] | None = None,
    max_pause_s: float = MAX_PAUSE_S,
) -> T:
    """Run `operation` until it gets past storage being unreachable; other errors propagate at once."""
    pause = min(FIRST_PAUSE_S, max_pause_s)
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not unreachable(exc):
                raise
            if stopping.is_set():
                raise StorageUnavailable() from exc
            STORAGE_RETRIES.inc()
            name = type(exc).__name__
            log.warning("storage unreachable (%s); %s wait, next try in %.1f s", name, what, pause)
        if keep is not None:
            await keep()
        try:
            await asyncio.wait_for(stopping.wait(), pause)
        except TimeoutError:
            pause = min(pause * 2, max_pause_s)
            continue
        raise StorageUnavailable()
