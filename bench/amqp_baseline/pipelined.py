"""The Python publishers of the baseline, each run as a process of its own with the same jobs and answers
as publisher.js (`python -m bench.amqp_baseline.pipelined CLIENT MODE JOB_JSON`, one JSON line out):

- `aiormq`: aiormq directly, publisher confirms, every publish a task whose confirmation is gathered as it
  comes (never one awaited before the next publish is sent);
- `raw`: pamqp frames over a bare asyncio socket (raw.py), confirmations only counted.

Modes: `incidents` (paced, stamped here), `snapshot`, and `relay` (the incidents an appender writes to a
Redis stream, published as they are read: the service's job, done with the least work).

Both keep at most `window` publishes unconfirmed.
"""

import asyncio
import json
import sys
import time
from typing import Any, Protocol, cast

import aiormq
from pamqp.commands import Basic
from redis.asyncio import Redis as AsyncRedis

from bench.amqp_baseline.raw import RawChannel, properties_of

MARKER = b"__CREATED_MS__"
PROPERTIES = Basic.Properties(delivery_mode=2, content_type="application/json")
START_DELAY_S = 0.05
# The relay's reads: as many entries as the worker's (worker/partitions.py READ_BATCH), blocking this
# long at most before it looks again.
RELAY_BATCH, RELAY_BLOCK_MS = 500, 1000


class Publisher(Protocol):
    confirmed: int
    nacked: int

    async def room(self, need: int) -> None: ...

    def publish(self, exchange: str, routing_key: str, body: bytes) -> None: ...

    async def flush(self) -> None: ...

    async def settled(self) -> None: ...

    async def close(self) -> None: ...


class AiormqWindow:
    """At most `size` publishes unconfirmed; nacks (a refused copy) counted, not raised. Each publish's
    task reports its own end (a done callback), so a free place costs O(1), not a wait over the window."""

    def __init__(
        self,
        connection: aiormq.abc.AbstractConnection,
        channel: aiormq.Channel,
        size: int,
        properties: Basic.Properties = PROPERTIES,
    ) -> None:
        self._connection, self._channel, self._size = connection, channel, size
        self._properties = properties
        self._pending: set[asyncio.Task[Any]] = set()
        self._room = asyncio.Event()
        self._need = 0
        self.confirmed = self.nacked = 0

    @classmethod
    async def open(cls, url: str, size: int, properties: Basic.Properties = PROPERTIES) -> "AiormqWindow":
        connection = await aiormq.connect(url)
        # The concrete channel: its basic_publish takes `wait`, the abstract one's does not.
        channel = cast(aiormq.Channel, await connection.channel(publisher_confirms=True))
        return cls(connection, channel, size, properties)

    async def room(self, need: int) -> None:
        while self._pending and len(self._pending) + need > self._size:
            self._need = need
            self._room.clear()
            await self._room.wait()

    def _done(self, task: "asyncio.Task[Any]") -> None:
        self._pending.discard(task)
        if task.cancelled() or task.exception() is not None:
            self.nacked += 1
        else:
            self.confirmed += 1
        if len(self._pending) + self._need <= self._size:
            self._room.set()

    def publish(self, exchange: str, routing_key: str, body: bytes) -> None:
        task = asyncio.create_task(
            # wait=False: the frames are queued for the writer without waiting for the socket to drain
            # (the default waits, under the channel's lock, which serialises the publishes); the task
            # still ends with the confirmation.
            self._channel.basic_publish(
                body, exchange=exchange, routing_key=routing_key, properties=self._properties, wait=False
            )
        )
        self._pending.add(task)
        task.add_done_callback(self._done)

    async def flush(self) -> None:
        await asyncio.sleep(0)

    async def settled(self) -> None:
        await self.room(self._size)

    async def close(self) -> None:
        await self._connection.close()


async def _open(client: str, job: dict[str, Any]) -> Publisher:
    properties = properties_of(job)
    if client == "raw":
        return await RawChannel.open(job["url"], job["window"], properties)
    return await AiormqWindow.open(job["url"], job["window"], properties)


def _split(template: str) -> tuple[bytes, bytes]:
    prefix, _, suffix = template.encode().partition(MARKER)
    return prefix, suffix


def _body(template: tuple[bytes, bytes], created_ms: float) -> bytes:
    return b"%b%.3f%b" % (template[0], created_ms, template[1])


async def incidents(client: str, job: dict[str, Any]) -> dict[str, Any]:
    """Incidents paced at `rate` for `seconds`, each stamped with the time its publish starts."""
    publisher = await _open(client, job)
    try:
        templates = [_split(t) for t in job["templates"]]
        queues: list[str] = job["queues"]
        exchange: str = job["exchange"]
        copies = len(queues) if exchange == "" else 1
        rate: float = job["rate"]
        total = round(rate * job["seconds"])
        started = time.time() + START_DELAY_S
        behind = 0.0
        for n in range(total):
            due = started + n / rate
            wait = due - time.time()
            if wait > 0.001:
                await publisher.flush()
                await asyncio.sleep(wait)
            # Stamped when the publish starts, as the service's incidents are when appended: a timer's
            # lateness is the pacing's (behindMs), not the publishing's.
            created = time.time()
            behind = max(behind, created - due)
            await publisher.room(copies)
            body = _body(templates[n % len(templates)], created * 1000)
            if copies == 1:
                publisher.publish(exchange, job["routingKey"], body)
            else:
                for queue in queues:
                    publisher.publish("", queue, body)
        await publisher.settled()
        seconds = time.time() - started
    finally:
        await publisher.close()
    return {
        "incidents": total,
        "published": total * copies,
        "confirmed": publisher.confirmed,
        "nacked": publisher.nacked,
        "seconds": seconds,
        "behindMs": behind * 1000,
    }


async def snapshot(client: str, job: dict[str, Any]) -> dict[str, Any]:
    """`count` messages to one queue as fast as the window allows."""
    publisher = await _open(client, job)
    try:
        template = _split(job["templates"][0])
        started = time.perf_counter()
        for _ in range(job["count"]):
            await publisher.room(1)
            publisher.publish("", job["queue"], _body(template, time.time() * 1000))
        await publisher.settled()
        seconds = time.perf_counter() - started
    finally:
        await publisher.close()
    count = job["count"]
    return {
        "messages": count,
        "confirmed": publisher.confirmed,
        "nacked": publisher.nacked,
        "seconds": seconds,
        "rate": count / seconds,
    }


async def relay(client: str, job: dict[str, Any]) -> dict[str, Any]:
    """The service's incident job done with the least work: `count` entries of a Redis stream, read as
    they are appended (a blocking XREAD from `after`, redis-py as the worker reads), each entry's message
    published as it is, byte for byte (its appender stamped it), as 50 copies or once to the exchange."""
    publisher = await _open(client, job)
    redis = AsyncRedis.from_url(job["redisUrl"])
    try:
        queues: list[str] = job["queues"]
        exchange: str = job["exchange"]
        copies = len(queues) if exchange == "" else 1
        stream, field = job["stream"], job["field"].encode()
        cursor, relayed, count = job["after"], 0, job["count"]
        await redis.ping()
        print(json.dumps({"ready": True}), flush=True)
        while relayed < count:
            reply: Any = await redis.xread({stream: cursor}, count=RELAY_BATCH, block=RELAY_BLOCK_MS)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    cursor, body = entry_id, fields[field]
                    await publisher.room(copies)
                    if copies == 1:
                        publisher.publish(exchange, job["routingKey"], body)
                    else:
                        for queue in queues:
                            publisher.publish("", queue, body)
                    relayed += 1
            await publisher.flush()
        await publisher.settled()
    finally:
        await redis.aclose()
        await publisher.close()
    return {"incidents": relayed, "confirmed": publisher.confirmed, "nacked": publisher.nacked}


MODES = {"incidents": incidents, "snapshot": snapshot, "relay": relay}


def main() -> None:
    client, mode, job = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    print(json.dumps(asyncio.run(MODES[mode](client, job))))


if __name__ == "__main__":
    main()
