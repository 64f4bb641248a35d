"""Waiting for what another process or task does, without sleeping longer than needed."""

import asyncio
from collections.abc import Awaitable, Callable

# How often a condition is checked while waiting.
POLL_S = 0.05


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15) -> None:
    for _ in range(int(timeout_s / POLL_S)):
        if await check():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError("condition not reached")
