"""The fan-out's baselines: already-encoded messages XADDed from Python with no service around them.

`pipelined` is plain XADD commands in pipelines (the issue's yardstick); `scripted` carries a whole chunk as
the arguments of one script call that XADDs each, the transport the worker itself uses, so it shows what
the worker's reads, checks and bookkeeping cost on top of moving the bytes.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bench import cpu
from domain.commands import StreamId
from domain.messages import MESSAGE_FIELD

# Messages per pipeline or script call: the worker's chunk (worker.snapshots.CHUNK), the same batching.
CHUNK = 1000
# The baselines' own stream, deleted after each measurement.
STREAM = "bench:fanout-raw"
# KEYS stream; ARGV the messages. Returns the first and the last entry ids.
_SCRIPTED = """
local first, last
for i = 1, #ARGV do
  last = redis.call('XADD', KEYS[1], '*', 'message', ARGV[i])
  first = first or last
end
return {first, last}
"""


@dataclass(frozen=True, slots=True)
class Publication:
    """Messages appended to a stream: how fast, from the first entry's id to the last one's."""

    messages: int
    span_ms: int
    # Busy fraction of each process from start to end (1.0 = one core), by role.
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.messages / (self.span_ms / 1000) if self.span_ms > 0 else 0.0


Send = Callable[[Redis, list[bytes]], Awaitable[tuple[bytes, bytes]]]


async def pipelined(client: Redis, messages: list[bytes]) -> tuple[bytes, bytes]:
    """One pipeline of XADDs; the ids of its first and last entries."""
    pipe = client.pipeline(transaction=False)
    for message in messages:
        pipe.xadd(STREAM, {MESSAGE_FIELD: message})
    ids: list[bytes] = await pipe.execute()
    return ids[0], ids[-1]


async def scripted(client: Redis, messages: list[bytes]) -> tuple[bytes, bytes]:
    """One script call XADDing every message; the ids of its first and last entries."""
    ids: Any = await client.register_script(_SCRIPTED)(keys=[STREAM], args=messages)
    return ids[0], ids[1]


async def publish(redis_url: str, messages: list[bytes], send: Send, pids: dict[str, int]) -> Publication:
    """Every message in chunks, one chunk awaited after the other, as the worker sends them."""
    client: Redis = Redis.from_url(redis_url)
    try:
        await client.ping()  # connected before the clock starts, as the worker is
        before, cpu_before, started = cpu.snapshot(pids), time.process_time(), time.perf_counter()
        ids = [await send(client, messages[i : i + CHUNK]) for i in range(0, len(messages), CHUNK)]
        wall_s = time.perf_counter() - started
        busy = cpu.busy(before, cpu.snapshot(pids), wall_s)
        busy["publisher"] = (time.process_time() - cpu_before) / wall_s
        span_ms = StreamId.parse(ids[-1][1]).ms - StreamId.parse(ids[0][0]).ms
        return Publication(len(messages), span_ms, busy)
    finally:
        await client.delete(STREAM)
        await client.aclose()
