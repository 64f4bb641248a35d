"""Live state (SPEC §12): a round's incidents kept and folded into their fixtures' scoreboards, in storage.

The partition owner (worker/partitions.py) calls this with the incidents it is about to deliver, before
the Delivery gets them: storage is never behind the queues. A crash after this and before the commit in
Redis repeats the round; the repeat inserts no incident twice (its key is the stream entry) and applies
none twice (the board remembers the ids it applied), so it changes nothing.
"""

from collections.abc import Sequence

from domain.scoreboard_store import Delivered, keep_round
from worker.incidents import Ready
from worker.metrics import SCOREBOARDS
from worker.resources import Resources


async def keep(res: Resources, ready: Sequence[Ready]) -> None:
    """One transaction for the whole round: its incidents kept, its boards loaded, folded and written."""
    if not ready:
        return
    incidents = [Delivered(item.entry_id, item.fixture_id, item.body) for item in ready]
    set_sports = res.settings.set_sports
    changed = await res.transactions.run(lambda conn: keep_round(conn, incidents, set_sports))
    SCOREBOARDS.labels("incidents").inc(changed)
