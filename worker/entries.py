"""Handing raw stream entries to the handler untouched.

Commands are plain stream fields, not FastStream's envelope. Decoding them is the handler's job, entry by
entry, so that one undecodable entry cannot fail the batch it arrived in.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.redis.message import BatchStreamMessage, RedisBatchStreamMessage

Entry = tuple[bytes, dict[bytes, bytes]]


async def keep_raw_entries(
    raw: BatchStreamMessage, original: Callable[[BatchStreamMessage], Awaitable[RedisBatchStreamMessage]]
) -> RedisBatchStreamMessage:
    blank: Any = {**raw, "data": [{} for _ in raw["data"]]}
    message = await original(blank)
    message.raw_message = raw
    return message


def entries_of(message: RedisBatchStreamMessage) -> list[Entry]:
    raw = message.raw_message
    return list(zip(raw["message_ids"], raw["data"], strict=True))
