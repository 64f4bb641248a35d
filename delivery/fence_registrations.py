"""Broadcasts' registrations for the deactivation fence (domain/scripts/fence.py), shared a while.

A broadcast (one publish to the vhost's exchange, which copies it into every bound queue) reads no
package's status: the fence only needs it registered before it is sent and until it is confirmed. A
registration of its own cost every incident round a Redis round trip before its send, and another after
it (issue 22). So broadcasts share one for ROTATE_S:

- a broadcast is sent only once its registration is in the set, and the registration leaves the set only
  once every broadcast sent under it is settled — which is all the fence asks (a deactivation that read
  its moment after unbinding waits for every registration before it);
- once the shared registration is half that old, a successor is registered beside the rounds, and takes
  over when it expires: a round does not wait for a registration while broadcasts keep coming;
- an expired registration leaves the set once its broadcasts are settled: while incidents flow, a
  deactivation waits at most about ROTATE_S longer than for its confirmations, and an idle worker holds
  no registration for longer than that.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field

from redis.asyncio import Redis

from domain.scripts.fence import register_publishing
from domain.scripts.runner import ScriptRunner
from domain.streams import PUBLISHING_BATCHES

log = logging.getLogger("delivery.fence")

# How long broadcasts share a registration: what a deactivation may wait beyond the confirmations of the
# broadcasts in flight, against one registration (and one withdrawal) per this long instead of per round.
ROTATE_S = 0.02


@dataclass(eq=False)
class Registration:
    """A batch id in the fence's set, shared by the broadcasts sent under it."""

    batch: str
    # When it was asked for (monotonic): its score in the set is no earlier, so its age is not understated.
    at: float
    # The script call that puts it in the set.
    ready: "asyncio.Future[list[bool]]" = field(repr=False)
    users: int = 0
    expired: bool = False
    withdrawn: bool = False

    def failed(self) -> bool:
        return self.ready.done() and (self.ready.cancelled() or self.ready.exception() is not None)


class SharedRegistrations:
    """The registration broadcasts are sent under now, its successor, and the withdrawals of the expired."""

    def __init__(self, redis: Redis, scripts: ScriptRunner, rotate_s: float = ROTATE_S) -> None:
        self._redis, self._scripts, self._rotate_s = redis, scripts, rotate_s
        self._current: Registration | None = None
        self._successor: Registration | None = None
        self._withdrawals: set[asyncio.Future[None]] = set()

    async def take(self) -> Registration:
        """A registration in the set to send one broadcast under; `give_back` once it is settled."""
        current = self._current
        if current is None or current.expired or current.failed():
            current = self._current = self._successor_or_new()
        elif self._successor is None and time.monotonic() - current.at >= self._rotate_s / 2:
            self._successor = self._register()
        current.users += 1
        try:
            await asyncio.shield(current.ready)
        except BaseException:
            self.give_back(current)
            raise
        return current

    def give_back(self, registration: Registration) -> None:
        """The broadcast sent under it is settled (confirmed, refused or failed)."""
        registration.users -= 1
        self._withdraw_if_unused(registration)

    async def close(self) -> None:
        """Every registration out of the set (a stopping worker holds none back)."""
        for registration in (self._current, self._successor):
            if registration is not None:
                self._expire(registration)
        if self._withdrawals:
            await asyncio.gather(*self._withdrawals, return_exceptions=True)

    def _successor_or_new(self) -> Registration:
        successor, self._successor = self._successor, None
        if successor is not None and not successor.expired and not successor.failed():
            return successor
        return self._register()

    def _register(self) -> Registration:
        batch = uuid.uuid4().hex
        ready = asyncio.ensure_future(register_publishing(batch, []).run(self._scripts))
        registration = Registration(batch, time.monotonic(), ready)
        # Its failure is the taker's to raise; a registration nobody took must not log it as unretrieved.
        ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        asyncio.get_running_loop().call_later(self._rotate_s, self._expire, registration)
        return registration

    def _expire(self, registration: Registration) -> None:
        registration.expired = True
        if self._current is registration:
            self._current = None
        if self._successor is registration:
            self._successor = None
        self._withdraw_if_unused(registration)

    def _withdraw_if_unused(self, registration: Registration) -> None:
        if registration.expired and registration.users == 0 and not registration.withdrawn:
            registration.withdrawn = True
            withdrawal = asyncio.ensure_future(self._withdraw(registration))
            self._withdrawals.add(withdrawal)
            withdrawal.add_done_callback(self._withdrawals.discard)

    async def _withdraw(self, registration: Registration) -> None:
        with contextlib.suppress(Exception):  # a failed registration may still have reached the set
            await registration.ready
        try:
            await self._redis.zrem(PUBLISHING_BATCHES, registration.batch)
        except Exception as exc:  # the fence drops it as a dead worker's after FENCE_LONGEST_MS
            if not registration.failed():  # else Redis was away already, and the taker said so
                log.warning("a publishing registration stays in the fence's set: %s", type(exc).__name__)
