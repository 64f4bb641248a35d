"""Live state (SPEC §12): rounds of incidents kept and folded into their fixtures' scoreboards, in storage.

The partition owner (worker/partitions.py) sends a round first and hands its incidents to `Batches`; a
round is committed in Redis only once they are kept. A crash in between repeats the round; the repeat
inserts no incident twice (its key is the stream entry) and applies none twice (the board remembers the
ids it applied), so it changes nothing.

The rounds of a moment are kept together, in one transaction (issue 22): keeping each round on its own
cost the worker about 1 ms of CPU per incident at 200 incidents/s, half of all its work. A batch still
holds the event loop while it is kept (on SQLite), right after the send of the round that closes it,
when the next incident is least likely to be waiting (docs/BENCHMARKS.md, "One transaction a moment").
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from domain.scoreboard_store import Delivered, keep_round
from worker.incidents import Ready
from worker.metrics import SCOREBOARDS
from worker.resources import Resources

# A batch is kept by the first round sent this long after the last batch was (or by a timer, when no
# round comes): at 200 incidents/s about ten rounds share a transaction, and a round read after a pause
# is kept at once, as before. The offsets are committed that much later, so a crash repeats that much more.
EVERY_S = 0.05
# ...or at once, past this many incidents: a backlog's rounds are not held in memory.
BATCH_MAX = 500


async def keep(res: Resources, ready: Sequence[Ready]) -> None:
    """One transaction for these incidents: kept, their boards loaded, folded and written."""
    if not ready:
        return
    incidents = [Delivered(item.entry_id, item.fixture_id, item.body) for item in ready]
    set_sports = res.settings.set_sports
    changed = await res.transactions.run(lambda conn: keep_round(conn, incidents, set_sports))
    SCOREBOARDS.labels("incidents").inc(changed)


class Batches:
    """Consecutive rounds' incidents kept in one transaction, each batch after the one before it.

    A batch is kept only once every earlier batch was: after a failure, the later ones fail too, without
    touching storage, so that the repeat folds every board in stream order again."""

    def __init__(
        self, keep_batch: Callable[[list[Ready]], Awaitable[None]], every_s: float | None = None
    ) -> None:
        self._keep = keep_batch
        self._every_s = EVERY_S if every_s is None else every_s
        self._open: list[Ready] = []
        self._outcome: asyncio.Future[None] | None = None  # the open batch's
        self._last: asyncio.Future[None] | None = None  # the batch closed last
        self._closed_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timed: set[asyncio.Task[None]] = set()

    def add(self, ready: Sequence[Ready]) -> asyncio.Future[None]:
        """A round's incidents in the open batch; the future ends once they are kept (or could not be)."""
        if not ready:  # nothing to keep: its commit follows the earlier rounds' all the same
            kept: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            kept.set_result(None)
            return kept
        if self._outcome is None:
            loop = asyncio.get_running_loop()
            self._outcome = loop.create_future()
            # Its rounds await it; this only keeps asyncio from logging a failure as never retrieved.
            self._outcome.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._timer = loop.call_later(self._every_s, self._on_timer)
        self._open += ready
        return self._outcome

    @property
    def due(self) -> bool:
        """Whether the open batch is to be kept now."""
        if self._outcome is None:
            return False
        return len(self._open) >= BATCH_MAX or time.monotonic() - self._closed_at >= self._every_s

    async def close(self) -> None:
        """Keep the open batch now, after the batches before it; returns once every batch is kept or
        failed. Raises nothing but a cancellation: the rounds get the outcome."""
        outcome, previous, batch = self._outcome, self._last, self._open
        if outcome is None:
            if previous is not None:  # closed by the timer, and perhaps not kept yet
                await asyncio.wait([previous])
            return
        self._outcome, self._last, self._open = None, outcome, []
        self._closed_at = time.monotonic()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await _after(previous)
            await self._keep(batch)
        except asyncio.CancelledError:
            outcome.cancel()
            raise
        except Exception as exc:
            outcome.set_exception(exc)
        else:
            outcome.set_result(None)

    def restart(self) -> None:
        """The rounds are read again from what was committed: a failed batch no longer stops the next."""
        self._last = None

    def _on_timer(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.close())
        self._timed.add(task)
        task.add_done_callback(self._timed.discard)


async def _after(previous: asyncio.Future[None] | None) -> None:
    """Once the batch before is kept; its failure raised (this batch is not to be kept either)."""
    if previous is None:
        return
    await asyncio.wait([previous])
    if previous.cancelled():  # its worker is stopping: this batch's rounds are repeated too
        raise RuntimeError("an earlier batch of incidents was not kept")
    if (failed := previous.exception()) is not None:
        raise failed
