"""The verification pool's pretended verification: as long as a real one, without a thread."""

import asyncio
import threading
import time

import pytest

from ingress.verification_pool import VerificationPool


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the pool takes instead of verifying."""
    taken: list[float] = []

    async def sleep(seconds: float) -> None:
        taken.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return taken


async def test_a_pretended_verification_takes_as_long_as_a_real_one_did(sleeps: list[float]) -> None:
    pool = VerificationPool(threads=1)
    await pool.run(time.sleep, 0.05)
    threads: list[str] = []
    await pool.pretend(lambda: threads.append(threading.current_thread().name))
    assert threads == []
    assert len(sleeps) == 1
    assert 0.05 <= sleeps[0] < 1


async def test_before_any_real_verification_the_pretended_one_is_a_real_dummy(sleeps: list[float]) -> None:
    pool = VerificationPool(threads=1)
    ran: list[bool] = []
    await pool.pretend(lambda: ran.append(True))
    assert ran == [True]
    assert sleeps == []
    await pool.pretend(lambda: ran.append(True))
    assert (ran, len(sleeps)) == ([True], 1)
