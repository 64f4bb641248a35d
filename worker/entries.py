"""Raw stream entries: handed to the handlers untouched, acknowledged once their effect is committed.

Commands are plain stream fields, not FastStream's envelope. Decoding them is the handler's job, entry by
entry, so that one undecodable entry cannot fail the batch it arrived in.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.redis.message import BatchStreamMessage, RedisBatchStreamMessage
from redis.asyncio.client import Pipeline

from domain.streams import COMMAND_ERRORS, COMMANDS_STREAM, WORKERS_GROUP

Entry = tuple[bytes, dict[bytes, bytes]]


async def keep_raw_entries(
    raw: BatchStreamMessage, original: Callable[[BatchStreamMessage], Awaitable[RedisBatchStreamMessage]]
) -> RedisBatchStreamMessage:
    blank: Any = {**raw, "data": [{} for _ in raw["data"]]}
    message = await original(blank)
    message.raw_message = raw
    return message


async def raw_entries(message: RedisBatchStreamMessage) -> list[Entry]:
    """The decoder: what a handler receives."""
    return entries_of(message)


def entries_of(message: RedisBatchStreamMessage) -> list[Entry]:
    raw = message.raw_message
    return list(zip(raw["message_ids"], raw["data"], strict=True))


def acknowledge(pipe: Pipeline, entry_ids: Sequence[bytes], stream: str = COMMANDS_STREAM) -> None:
    """Queue the acknowledgement of entries whose effect is committed (SPEC §3)."""
    if not entry_ids:
        return
    pipe.xack(stream, WORKERS_GROUP, *entry_ids)
    if stream == COMMANDS_STREAM:  # a command's last error is kept for its dead letter until then
        pipe.hdel(COMMAND_ERRORS, *entry_ids)
