"""A worker's background duties stop when told, even when a cancellation is lost on the way (redis-py 8.1
loses one that lands inside a command now and then: worker/repeating.py)."""

import asyncio
import contextlib

from worker.repeating import Repeating


async def test_a_stop_ends_the_duty_even_when_its_step_swallows_the_cancellation() -> None:
    steps = 0
    inside = asyncio.Event()

    async def step() -> None:
        nonlocal steps
        steps += 1
        inside.set()
        # What a lost cancellation looks like from here: the step simply returns.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    duty = Repeating("swallowing", step, 0.001)
    duty.start()
    await inside.wait()
    # Bounded only so that a regression fails instead of hanging the suite.
    await asyncio.wait_for(duty.stop(), 10)
    assert steps == 1


async def test_a_duty_repeats_its_step_until_stopped() -> None:
    seen = asyncio.Event()
    count = 0

    async def step() -> None:
        nonlocal count
        count += 1
        if count == 3:
            seen.set()

    duty = Repeating("counting", step, 0.001)
    duty.start()
    await asyncio.wait_for(seen.wait(), 10)
    await duty.stop()
    stopped_at = count
    await asyncio.sleep(0.05)
    assert count == stopped_at
