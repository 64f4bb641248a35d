"""Dead letters: commands that failed too often, kept on `livescore:commands:dead` for an operator.

A dead letter is the original entry's fields plus what happened to it. Retrying one appends its original
fields to the commands stream again — as a new command, so for an activation it becomes the latest.
"""

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from domain.command_log import CommandLog
from domain.errors import NoSuchDeadLetter
from domain.messages import timestamp
from domain.streams import DEAD_LETTERS_STREAM

# The fields a dead letter adds to the command's own.
ORIGINAL_ID, ERROR, DELIVERIES, DEAD_AT = "originalId", "error", "deliveries", "deadLetteredAt"
_ADDED = {ORIGINAL_ID.encode(), ERROR.encode(), DELIVERIES.encode(), DEAD_AT.encode()}
# Approximate length of the stream: dead letters are for operators, not an archive.
DEAD_LETTERS_MAXLEN = 100_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    original_id: str
    error: str
    deliveries: int
    dead_at: str
    command: dict[str, str]


def letter(entry_id: bytes, fields: dict[bytes, bytes], error: bytes, deliveries: int) -> dict[Any, Any]:
    """The fields of a dead letter for this entry."""
    added = {ORIGINAL_ID: entry_id, ERROR: error, DELIVERIES: deliveries, DEAD_AT: timestamp()}
    return {**fields, **added}


async def list_dead_letters(redis: Redis, count: int | None = None) -> list[DeadLetter]:
    entries: Any = await redis.xrange(DEAD_LETTERS_STREAM, count=count)
    return [_parse(entry_id, fields) for entry_id, fields in entries]


async def retry(redis: Redis, dead_letter_id: str, commands_maxlen: int) -> bytes:
    """Put a dead letter's command back on the commands stream; returns its new entry id."""
    entries: Any = await redis.xrange(DEAD_LETTERS_STREAM, dead_letter_id, dead_letter_id)
    if not entries:
        raise NoSuchDeadLetter(f"No dead letter {dead_letter_id}")
    original = {k: v for k, v in entries[0][1].items() if k not in _ADDED}
    new_id = await CommandLog(redis, commands_maxlen).append_unchecked(original)
    await redis.xdel(DEAD_LETTERS_STREAM, dead_letter_id)
    return new_id


def _parse(entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    def text(value: bytes | None) -> str:
        return (value or b"").decode(errors="replace")

    command = {text(k): text(v) for k, v in fields.items() if k not in _ADDED}
    return DeadLetter(
        text(entry_id),
        text(fields.get(ORIGINAL_ID.encode())),
        text(fields.get(ERROR.encode())),
        int(fields.get(DELIVERIES.encode()) or 0),
        text(fields.get(DEAD_AT.encode())),
        command,
    )
