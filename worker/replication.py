"""A worker applies a command only once LIVESCORE_REDIS_MIN_REPLICAS replicas hold it (SPEC §11).

Otherwise a primary that is then lost (or cut off and demoted: Sentinel may fail over twice, and a primary
that nobody told keeps taking writes for a moment) takes the command with it while storage keeps its
effect, and storage would no longer follow the stream. The ingress's WAIT only decides the customer's
answer; this one decides what is applied. Redis replicates in order, so a replica that holds a write made
after the read holds every entry read.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from domain.errors import ReplicasUnconfirmed
from domain.streams import COMMANDS_STREAM, REPLICATION_MARK
from worker.entries import Entry
from worker.resources import Resources

log = logging.getLogger(__name__)

# Between two questions while the replicas do not confirm; a replica catching up after a failover (a full
# resynchronisation) takes about this long here.
PAUSE_S = 0.5
# The mark only has to be a write: it need not outlive the question.
MARK_TTL_MS = 60_000


async def replicated(res: Resources, entries: Sequence[Entry]) -> bool:
    """True once the replicas hold `entries`; False if this Redis does not hold them (they were read from
    a primary lost since: not to be applied). Waits while the replicas lag; raises ReplicasUnconfirmed when
    the worker stops first, leaving the entries pending."""
    wanted = res.settings.redis_min_replicas
    if not wanted or not entries:
        return True
    while not res.stopping.is_set():
        try:
            held, confirmed = await _ask(res, entries[-1][0], wanted)
        except RedisError as exc:  # the primary going away: ask again, of the one the sentinels name next
            log.warning("could not ask whether replicas hold the commands read: %s", type(exc).__name__)
        else:
            if not held:
                log.warning("%d commands read from a primary that lost them; not applied", len(entries))
                return False
            if confirmed >= wanted:
                return True
            log.warning("%d of %d replicas hold the commands read; not applied yet", confirmed, wanted)
        await asyncio.sleep(PAUSE_S)
    raise ReplicasUnconfirmed()


async def _ask(res: Resources, last_id: bytes, wanted: int) -> tuple[bool, int]:
    """Whether this server holds the batch's last entry, and how many replicas hold a write made after it,
    all on one connection (a pipeline), so that the answer is about this server's own replicas."""
    pipe = res.redis.pipeline(transaction=False)
    pipe.xrange(COMMANDS_STREAM, last_id, last_id)
    pipe.set(REPLICATION_MARK, res.consumer, px=MARK_TTL_MS)
    pipe.wait(wanted, res.settings.redis_wait_timeout_ms)
    found, _, confirmed = await pipe.execute()
    reply: Any = confirmed
    return bool(found), int(reply)
