"""Waiting out a storage or broker outage instead of failing the entries that happened to be in hand.

A command that cannot be applied because the database (or, delivering over AMQP, RabbitMQ) is down
did nothing wrong: counting that against
its deliveries would dead-letter every command of a long enough outage. So the worker keeps the batch,
retries with a growing pause, and keeps its claim on the entries fresh (XCLAIM JUSTID, which does not
count as a delivery) so no other worker takes them meanwhile. New commands wait unread in the stream.
When the worker is told to stop, it gives up at once and leaves the entries pending for the next one.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from domain.errors import BrokerUnavailable, StorageUnavailable
from domain.storage import unreachable
from worker.metrics import STORAGE_RETRIES

log = logging.getLogger("worker.storage")

T = TypeVar("T")

FIRST_PAUSE_S = 0.1
# The longest pause between tries; callers holding stream entries pass less than their claim idle time,
# since the claim is refreshed once per pause.
MAX_PAUSE_S = 5.0


class Backoff:
    """The pauses of an outage wait: `first`, doubled after each failed try up to `longest`, and `first`
    again once a try went through."""

    def __init__(self, first: float, longest: float) -> None:
        self.first, self.longest = first, longest
        self._pause = first

    def next(self) -> float:
        """The pause to wait now; the one after it is twice as long (at most `longest`)."""
        pause = self._pause
        self._pause = min(self.longest, pause * 2)
        return pause

    def reset(self) -> None:
        self._pause = self.first


async def while_storage_is_down(
    operation: Callable[[], Awaitable[T]],
    what: str,
    stopping: asyncio.Event,
    keep: Callable[[], Awaitable[object]] | None = None,
    max_pause_s: float = MAX_PAUSE_S,
) -> T:
    """Run `operation` until it gets past storage being unreachable; other errors propagate at once.

    Told to stop meanwhile, it raises StorageUnavailable (its entries stay pending for the next worker).
    """
    try:
        # The first try without tenacity, whose bookkeeping costs as much as a small batch's own work
        # (docs/BENCHMARKS.md); it takes over once storage failed.
        return await operation()
    except Exception as exc:
        if not is_outage(exc) or stopping.is_set():
            _give_up(exc)

    async def attempt() -> T:  # a coroutine function, which tenacity awaits (a lambda would not be)
        return await operation()

    try:
        return await _retrying(what, stopping, keep, max_pause_s)(attempt)
    except Exception as exc:
        _give_up(exc)


def _retrying(
    what: str, stopping: asyncio.Event, keep: Callable[[], Awaitable[object]] | None, max_pause_s: float
) -> AsyncRetrying:
    async def pause(seconds: float) -> None:
        """tenacity's sleep: renew the claim, then wait — unless the worker is told to stop."""
        if keep is not None:
            await keep()
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
        except TimeoutError:
            return
        raise StorageUnavailable()

    def note(state: RetryCallState) -> None:
        STORAGE_RETRIES.inc()
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        name = type(failure).__name__
        log.warning("storage or broker unreachable (%s); %s wait, next try in %.1f s", name, what, wait)

    backoff = Backoff(FIRST_PAUSE_S, max_pause_s)
    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: is_outage(exc) and not stopping.is_set()),
        wait=lambda _state: backoff.next(),
        sleep=pause,
        before_sleep=note,
        reraise=True,
    )


def _give_up(exc: Exception) -> NoReturn:
    """Raise what stops the retries: the error itself, or StorageUnavailable when told to stop while
    storage is down."""
    if isinstance(exc, BrokerUnavailable) or not unreachable(exc):
        raise exc
    raise StorageUnavailable() from exc


def is_outage(exc: BaseException) -> bool:
    """An outage to wait out: storage or the broker cannot be reached (not a statement that is wrong)."""
    return unreachable(exc) or isinstance(exc, BrokerUnavailable)
