"""Commands delivered again: claimed from a dead worker, or retried after failing here.

FastStream never redelivers by itself (NOTES): a second subscriber claims entries idle longer than
LIVESCORE_CLAIM_IDLE_MS with XAUTOCLAIM, and hands them to the same handler, unless they have already
been delivered LIVESCORE_MAX_DELIVERIES times: those are moved to `livescore:commands:dead` with their
last error and acknowledged, so the worker goes on.
"""

import logging
from typing import Any

from domain.dead_letters import DEAD_LETTERS_MAXLEN, letter
from domain.streams import COMMAND_ERRORS, COMMANDS_STREAM, DEAD_LETTERS_STREAM, WORKERS_GROUP
from worker.entries import Entry, acknowledge
from worker.handlers import apply_commands
from worker.metrics import DEAD_LETTERS
from worker.resources import Resources

log = logging.getLogger("worker.redelivery")


async def retry_commands(res: Resources, entries: list[Entry]) -> None:
    deliveries = await _deliveries(res, [entry_id for entry_id, _ in entries])
    exhausted = [e for e in entries if deliveries.get(e[0], 0) > res.settings.max_deliveries]
    for entry_id, fields in exhausted:
        await dead_letter(res, entry_id, fields, deliveries[entry_id] - 1)
    retry = [e for e in entries if e not in exhausted]
    if retry:
        log.debug("retrying %d command(s) delivered before", len(retry))
        await apply_commands(res, retry)


async def dead_letter(res: Resources, entry_id: bytes, fields: dict[bytes, bytes], failures: int) -> None:
    error: Any = await res.redis.hget(COMMAND_ERRORS, entry_id) or b"unknown (its worker stopped)"
    dead = letter(entry_id, fields, bytes(error), failures)
    pipe = res.redis.pipeline(transaction=True)
    pipe.xadd(DEAD_LETTERS_STREAM, dead, maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
    acknowledge(pipe, [entry_id])
    await pipe.execute()
    DEAD_LETTERS.inc()
    text = bytes(error).decode(errors="replace")
    log.error("command %s dead-lettered after %d deliveries: %s", entry_id.decode(), failures, text)


async def _deliveries(res: Resources, entry_ids: list[bytes]) -> dict[bytes, int]:
    """How many times each entry has been delivered, this delivery included (XPENDING)."""
    counts = {}
    for entry_id in entry_ids:
        info: Any = await res.redis.xpending_range(COMMANDS_STREAM, WORKERS_GROUP, entry_id, entry_id, 1)
        if info:
            counts[entry_id] = int(info[0]["times_delivered"])
    return counts
