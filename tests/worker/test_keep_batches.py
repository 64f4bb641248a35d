"""Rounds' live state kept together (worker/live_state.py `Batches`): the rounds of a moment in one
transaction, in their order; the first round after a pause at once; a batch after a failed one not kept."""

import asyncio
from dataclasses import dataclass, field

import pytest

from domain.commands import StreamId
from domain.errors import StorageUnavailable
from domain.fixture_store import FixtureRefs
from worker import live_state
from worker.incidents import Ready
from worker.live_state import Batches

EVERY_S = 0.5


def ready(n: int) -> list[Ready]:
    return [Ready(StreamId(1000 + n, 0), n, b"{}", FixtureRefs(1, 1))]


@dataclass
class Storage:
    """The batches kept, as the incidents' stream ids per transaction; the next one fails if asked to."""

    kept: list[list[int]] = field(default_factory=list)
    fail_next: bool = False

    async def keep(self, batch: list[Ready]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StorageUnavailable()
        self.kept.append([item.entry_id.ms - 1000 for item in batch])


@pytest.fixture
def storage() -> Storage:
    return Storage()


async def test_the_first_round_after_a_pause_is_kept_at_once(storage: Storage) -> None:
    batches = Batches(storage.keep, EVERY_S)
    kept = batches.add(ready(1))
    assert batches.due
    await batches.close()
    assert kept.done()
    assert kept.exception() is None
    assert storage.kept == [[1]]


async def test_the_rounds_after_it_are_kept_together_in_their_order(storage: Storage) -> None:
    batches = Batches(storage.keep, EVERY_S)
    batches.add(ready(1))
    await batches.close()
    second, third = batches.add(ready(2)), batches.add(ready(3))
    assert not batches.due, "kept before the moment is over"
    assert second is third
    # No round comes: the timer keeps them.
    await asyncio.wait_for(second, EVERY_S * 10)
    assert storage.kept == [[1], [2, 3]]


async def test_a_round_sent_once_the_moment_is_over_closes_the_batch(storage: Storage) -> None:
    batches = Batches(storage.keep, EVERY_S)
    batches.add(ready(1))
    await batches.close()
    await asyncio.sleep(EVERY_S / 2)
    batches.add(ready(2))  # its batch's timer: 1.5 moments after the close
    assert not batches.due
    await asyncio.sleep(EVERY_S * 0.6)
    batches.add(ready(3))  # 1.1 moments after the close
    assert batches.due
    await batches.close()
    assert storage.kept == [[1], [2, 3]]


async def test_a_backlog_is_kept_at_once_past_the_batch_bound(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_state, "BATCH_MAX", 3)
    batches = Batches(storage.keep, EVERY_S)
    batches.add(ready(1))
    await batches.close()
    batches.add(ready(2) + ready(3))
    assert not batches.due
    batches.add(ready(4))
    assert batches.due


async def test_a_round_with_nothing_to_keep_does_not_wait_for_a_batch(storage: Storage) -> None:
    batches = Batches(storage.keep, EVERY_S)
    kept = batches.add([])
    assert kept.done()
    assert not batches.due
    assert storage.kept == []


async def test_a_batch_after_a_failed_one_is_not_kept_and_fails_alike_until_the_restart(
    storage: Storage,
) -> None:
    """Keeping a later batch would fold its incidents into the boards before the failed batch's, which
    the repeat keeps again; once the rounds are read again from what was committed, batches go on."""
    batches = Batches(storage.keep, EVERY_S)
    storage.fail_next = True
    first = batches.add(ready(1))
    await batches.close()
    second = batches.add(ready(2))
    await batches.close()
    assert isinstance(first.exception(), StorageUnavailable)
    assert isinstance(second.exception(), StorageUnavailable)
    assert storage.kept == []
    batches.restart()
    third = batches.add(ready(1) + ready(2))
    await batches.close()
    assert third.exception() is None
    assert storage.kept == [[1, 2]]


async def test_closing_waits_for_a_batch_the_timer_is_keeping(storage: Storage) -> None:
    """What the partitions' drain relies on: once `close` returns, every round handed over is kept."""
    slow = asyncio.Event()

    async def keep(batch: list[Ready]) -> None:
        await slow.wait()
        await storage.keep(batch)

    batches = Batches(keep, EVERY_S)
    batches.add(ready(1))
    closing = asyncio.ensure_future(batches.close())
    await asyncio.sleep(0)
    batches.add(ready(2))
    await asyncio.sleep(EVERY_S * 1.5)  # the timer closed the second batch; it waits for the first
    draining = asyncio.ensure_future(batches.close())
    await asyncio.sleep(0.05)
    assert not draining.done()
    slow.set()
    await asyncio.wait_for(asyncio.gather(closing, draining), 5)
    assert storage.kept == [[1], [2]]
