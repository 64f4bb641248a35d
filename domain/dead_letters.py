"""Dead letters, kept for an operator: commands that failed too often (`livescore:commands:dead`), and
incidents that cannot be delivered (`livescore:incidents:dead`: malformed, or their fixture never came).

A dead letter is the original entry's fields plus what happened to it. Retrying one appends its original
fields to its stream again — as a new entry: a command becomes the latest for its package, an incident is
delivered late, after the incidents of its fixture that came meanwhile (SPEC §10's one exception).
"""

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from domain.command_log import CommandLog, Replication
from domain.errors import NoSuchDeadLetter
from domain.incidents import INCIDENTS_MAXLEN
from domain.messages import MESSAGE_FIELD, timestamp
from domain.streams import DEAD_LETTERS_STREAM, INCIDENT_DEAD_LETTERS_STREAM, INCIDENTS_STREAM

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


@dataclass(frozen=True, slots=True)
class DeadIncident:
    id: str
    original_id: str
    error: str
    dead_at: str
    # The entry's `message` as it arrived (not necessarily JSON: it may be why it died).
    message: str


def letter(entry_id: bytes, fields: dict[bytes, bytes], error: bytes, deliveries: int) -> dict[Any, Any]:
    """The fields of a dead letter for this entry."""
    added = {ORIGINAL_ID: entry_id, ERROR: error, DELIVERIES: deliveries, DEAD_AT: timestamp()}
    return {**fields, **added}


async def list_dead_letters(redis: Redis, count: int | None = None) -> list[DeadLetter]:
    entries: Any = await redis.xrange(DEAD_LETTERS_STREAM, count=count)
    return [_parse(entry_id, fields) for entry_id, fields in entries]


async def retry(
    redis: Redis, dead_letter_id: str, commands_maxlen: int, replication: Replication | None = None
) -> bytes:
    """Put a dead letter's command back on the commands stream; returns its new entry id."""
    entries: Any = await redis.xrange(DEAD_LETTERS_STREAM, dead_letter_id, dead_letter_id)
    if not entries:
        raise NoSuchDeadLetter(f"No dead letter {dead_letter_id}")
    original = {k: v for k, v in entries[0][1].items() if k not in _ADDED}
    log = CommandLog(redis, commands_maxlen, replication=replication or Replication())
    new_id = await log.append_unchecked(original)
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


def incident_letter(entry_id: str, fields: dict[bytes, bytes], error: str) -> dict[Any, Any]:
    """The fields of an incident's dead letter: its own entry's, the original id, why, and when."""
    return {**fields, ORIGINAL_ID: entry_id, ERROR: error[:500], DEAD_AT: timestamp()}


async def list_dead_incidents(redis: Redis, count: int | None = None) -> list[DeadIncident]:
    entries: Any = await redis.xrange(INCIDENT_DEAD_LETTERS_STREAM, count=count)
    return [_parse_incident(entry_id, fields) for entry_id, fields in entries]


async def retry_incident(redis: Redis, dead_letter_id: str, maxlen: int = INCIDENTS_MAXLEN) -> bytes:
    """Put a dead-lettered incident back on the incidents stream; returns its new entry id."""
    entries: Any = await redis.xrange(INCIDENT_DEAD_LETTERS_STREAM, dead_letter_id, dead_letter_id)
    if not entries:
        raise NoSuchDeadLetter(f"No dead incident {dead_letter_id}")
    original = {k: v for k, v in entries[0][1].items() if k not in _ADDED}
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(INCIDENTS_STREAM, original, maxlen=maxlen, approximate=True)
    pipe.xdel(INCIDENT_DEAD_LETTERS_STREAM, dead_letter_id)
    new_id, _ = await pipe.execute()
    return bytes(new_id)


async def newest_id(redis: Redis, stream: str) -> str | None:
    """The id of the newest dead letter of `stream`, if there is one."""
    newest: Any = await redis.xrevrange(stream, count=1)
    return newest[0][0].decode() if newest else None


async def purge(redis: Redis, stream: str, through: str) -> int:
    """Remove the dead letters of `stream` up to and including `through`, so letters that came after an
    operator looked are kept. Returns how many were removed."""
    milliseconds, _, sequence = through.partition("-")
    # XTRIM MINID removes every entry below the id it names: the id right after `through`.
    after = f"{milliseconds}-{int(sequence) + 1}" if sequence else f"{int(milliseconds) + 1}-0"
    removed: Any = await redis.xtrim(stream, minid=after, approximate=False)
    return int(removed)


def _parse_incident(entry_id: bytes, fields: dict[bytes, bytes]) -> DeadIncident:
    def text(key: str) -> str:
        return (fields.get(key.encode()) or b"").decode(errors="replace")

    return DeadIncident(entry_id.decode(), text(ORIGINAL_ID), text(ERROR), text(DEAD_AT), text(MESSAGE_FIELD))
