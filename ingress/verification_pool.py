"""Where password verifications run: a few threads, and one turn at a time per client address.

Argon2id holds 64 MiB and a core for ~90 ms per verification (NOTES). Left to anyio's default of 40
threads, a flood of failing logins ran 40 at once: the ingress grew by ~2 GiB and a customer's first login
waited behind the whole flood. Here at most `threads` run at once (memory: threads × 64 MiB), and each
client address waits for the pool with at most one login, so a login from another address waits only for
the verifications already running, never for one address's queue.

A login for a package that does not exist has nothing to verify: it waits as long as a verification
takes (a duration drawn from the latest real ones) without a thread or a core, so that a flood against
unknown packages costs the pool nothing and a customer's first login does not wait behind it. Unloaded,
both kinds take the same time (SPEC §2.1 rule 5); under a flood, an existing package's login may wait
longer for its turn (SPEC §2.3 allows it).
"""

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

T = TypeVar("T")
# How many of the latest verifications' durations a pretended one draws from: enough to follow the
# machine's load within seconds, few enough to be no memory at all.
SAMPLES = 64
Args = TypeVarTuple("Args")


@dataclass
class _Turns:
    """One address's logins: the one whose turn it is holds the lock; `waiting` counts it and the rest."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class VerificationPool:
    def __init__(self, threads: int) -> None:
        # At least one thread, or no login could ever be verified.
        self._threads = anyio.CapacityLimiter(max(threads, 1))
        self._turns: dict[str, _Turns] = {}
        self._durations: deque[float] = deque(maxlen=SAMPLES)

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Held by one login of this client address at a time, from its storage read to its verdict."""
        turns = self._turns.setdefault(client, _Turns())
        turns.waiting += 1
        try:
            async with turns.lock:
                yield
        finally:
            turns.waiting -= 1
            if not turns.waiting:
                del self._turns[client]

    async def run(self, verify: Callable[[Unpack[Args]], T], *args: *Args) -> T:
        """Runs a verification in one of the pool's threads, waiting in line for one if all are busy."""
        return await anyio.to_thread.run_sync(self._timed, verify, *args, limiter=self._threads)

    async def pretend(self, verify: Callable[[], object]) -> None:
        """Takes as long as a verification, without one: `verify` (a verification against a dummy) runs
        only while no real one has been timed yet."""
        if not self._durations:
            await self.run(verify)
            return
        await asyncio.sleep(random.choice(self._durations))

    def _timed(self, verify: Callable[[Unpack[Args]], T], *args: *Args) -> T:
        start = time.perf_counter()
        try:
            return verify(*args)
        finally:
            self._durations.append(time.perf_counter() - start)
