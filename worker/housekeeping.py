"""Housekeeping of the live state: incidents and finished fixtures' boards dropped past the recovery window.

Every worker trims, each once a minute: a trim is idempotent, so two workers trimming at once cost a
delete that finds nothing, and no duty has to be handed over when a worker dies. Each trim removes about
one interval's worth of rows (what aged out since the last), in batches of a bounded size.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from domain.scoreboard_store import trim_boards, trim_incidents
from worker.metrics import LIVE_STATE_TRIMMED
from worker.repeating import Repeating
from worker.resources import Resources

log = logging.getLogger("worker.housekeeping")

# How often a worker trims: the window is hours long, so a minute late is nothing, and a minute's
# incidents (12,000 at 200 a second) are a small delete.
TRIM_EVERY_S = 60.0
# Incidents dropped per transaction: a few milliseconds of holding SQLite's write lock, which the
# incident rounds wait for. After a long pause (a week without workers) a trim is many such batches...
TRIM_BATCH = 5000
# ...with a pause between them, in which the incident rounds take their turn.
BETWEEN_BATCHES_S = 0.05


class Housekeeping:
    def __init__(self, res: Resources, every_s: float = TRIM_EVERY_S) -> None:
        self._res = res
        self._repeating = Repeating("housekeeping", self._trim, every_s)

    async def start(self) -> None:
        self._repeating.start()

    async def stop(self) -> None:
        await self._repeating.stop()

    async def _trim(self) -> None:
        try:
            await trim_live_state(self._res)
        except Exception as exc:  # storage away: the next trim catches up
            log.warning("could not trim the live state: %s: %s", type(exc).__name__, exc)


async def trim_live_state(res: Resources, now: datetime | None = None) -> tuple[int, int]:
    """One trim: returns the kept incidents and the boards dropped."""
    since = (now or datetime.now(UTC)) - timedelta(hours=res.settings.recovery_hours)
    incidents = 0
    while True:
        async with res.engine.begin() as conn:
            dropped = await trim_incidents(conn, since, TRIM_BATCH)
        incidents += dropped
        if dropped < TRIM_BATCH:
            break
        await asyncio.sleep(BETWEEN_BATCHES_S)
    async with res.engine.begin() as conn:
        boards = await trim_boards(conn, since)
    LIVE_STATE_TRIMMED.labels("incidents").inc(incidents)
    LIVE_STATE_TRIMMED.labels("scoreboards").inc(boards)
    if incidents or boards:
        log.info("trimmed %d kept incidents and %d finished fixtures' scoreboards", incidents, boards)
    return incidents, boards
