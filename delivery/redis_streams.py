"""Delivery to Redis streams (SPEC §4, §10): `livescore:fixtures:N` and `livescore:incidents:N`.

Every check that must hold as a message is appended — the package is active, its queue has room —
is made by Redis atomically with the append (delivery/redis_appends.py), and a whole call is one
pipelined round trip (and one more for each queue that was full, to have its package deactivated).
Redis acknowledges an append when it has it: that is this broker's confirmation.
"""

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from delivery.redis_appends import StreamAppends, parse
from domain.delivery import (
    Broadcast,
    Parcel,
    Published,
    PublishResult,
    QueueFigures,
    QueueKind,
    Subscriptions,
    as_parcels,
    settled,
)
from domain.messages import MESSAGE_FIELD
from domain.package_view import PackageView
from domain.queue_limit import QueueLimit
from domain.streams import fixtures_queue, incidents_queue

_MESSAGE = MESSAGE_FIELD.encode()


def queue_name(kind: QueueKind, package_id: int) -> str:
    return fixtures_queue(package_id) if kind is QueueKind.FIXTURES else incidents_queue(package_id)


class RedisStreamsDelivery:
    figures_in_view = True
    routes_by_subscriptions = False

    def __init__(self, redis: Redis, queue_limit: int, commands_maxlen: int) -> None:
        self._redis = redis
        self._queue = StreamAppends(redis, queue_limit)
        self._limit = QueueLimit(redis, queue_limit, commands_maxlen)
        self._view = PackageView(redis, queue_limit=queue_limit)

    async def follow(
        self,
        writes: Pipeline,
        packages: Mapping[int, Subscriptions | None],
        imaged: Collection[int] = (),
    ) -> None:
        """Nothing to do: the scripts that append check the status in the same step, and who gets a
        broadcast is decided by its caller's audience, from storage."""

    async def reconcile(self, packages: Mapping[int, Subscriptions | None]) -> None:
        """Nothing to do: every append checks the status copy."""

    async def broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> set[int]:
        """One copy of each message per package of its audience."""
        parcels, positions = as_parcels(kind, items)
        published = await self.publish(parcels)
        return {
            position
            for result, at in zip(published, positions, strict=True)
            if result.result is PublishResult.FULL
            for position in at[result.count :]
        }

    async def start_broadcast(self, kind: QueueKind, items: Sequence[Broadcast]) -> asyncio.Future[set[int]]:
        """Appended at once: Redis answers as it takes them."""
        return settled(await self.broadcast(kind, items))

    async def start_publish(self, parcels: Sequence[Parcel]) -> asyncio.Future[list[Published]]:
        """Appended at once: Redis answers as it takes them."""
        return settled(await self.publish(parcels))

    async def publish(self, parcels: Sequence[Parcel]) -> list[Published]:
        pipe = self._redis.pipeline(transaction=False)
        for parcel in parcels:
            queue = queue_name(parcel.kind, parcel.package_id)
            bodies = [message.body for message in parcel.messages]
            if parcel.once is not None:
                (body,) = bodies
                await self._queue.publish_once(parcel.package_id, queue, parcel.once, body, pipe)
            else:
                await self._queue.publish(parcel.package_id, bodies, pipe=pipe, queue=queue)
        replies = await pipe.execute() if parcels else []
        published = [parse(reply) for reply in replies]
        for parcel, result in zip(parcels, published, strict=True):
            if result.result is PublishResult.FULL:
                await self._limit.refused(parcel.package_id, parcel.kind, len(parcel.messages) - result.count)
        return published

    async def admit(self, package_id: int, partitions: Collection[int], subscriptions: Subscriptions) -> None:
        """Nothing to do: the owner leaves the package out of the partition's copies until its image is
        out (worker/incidents.py `admitted`)."""

    async def provision(self, package_id: int) -> None:
        """Nothing to do: a stream comes into being with its first message."""

    async def figures(self, package_id: int, kind: QueueKind) -> QueueFigures:
        state = await self._view.read(package_id, queue_name(kind, package_id))
        return state.queue

    async def reachable(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    def nodes(self) -> dict[str, str]:
        """The queues are on the service's own Redis, which `/ready` reports already."""
        return {}

    async def close(self) -> None:
        """The Redis connection belongs to the caller."""


class RedisStreamsReader:
    """A package's queues read with plain XREAD, from the first entry on: no consumer group, so it takes
    nothing from the customer's own groups (or anyone's) and leaves no trace."""

    # Entries per XREAD: large enough that a full queue is caught up in a few round trips.
    BATCH = 1000

    def __init__(self, redis: Redis, package_id: int, owns_redis: bool = False) -> None:
        self._redis = redis
        self._owns_redis = owns_redis
        self._last: dict[Any, Any] = {queue_name(kind, package_id): "0" for kind in QueueKind}
        self._kinds = {queue_name(kind, package_id): kind for kind in QueueKind}

    async def read(self, wait_s: float) -> list[tuple[QueueKind, bytes]]:
        reply: Any = await self._redis.xread(self._last, count=self.BATCH, block=max(1, int(wait_s * 1000)))
        found = []
        for stream, entries in reply or []:
            queue = stream.decode() if isinstance(stream, bytes) else stream
            found += [(self._kinds[queue], fields.get(b"message", b"")) for _, fields in entries]
            self._last[queue] = entries[-1][0].decode()
        return found

    def nodes(self) -> dict[str, str]:
        """The queues are on the service's own Redis, which `/ready` reports already."""
        return {}

    async def close(self) -> None:
        if self._owns_redis:
            await self._redis.aclose()


class RedisStreamsPeek:
    """A queue read with XRANGE / XREVRANGE / XREAD: nothing taken, no trace left."""

    # --follow waits this long per read, so Ctrl-C is noticed promptly.
    FOLLOW_BLOCK_MS = 1000

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def read(
        self, package_id: int, kind: QueueKind, count: int | None, last: int | None, follow: bool
    ) -> AsyncIterator[bytes]:
        queue = queue_name(kind, package_id)
        entries, position = await self._existing(queue, count, last, follow)
        for _, fields in entries:
            yield fields.get(_MESSAGE, b"null")
        while follow:
            reply: Any = await self._redis.xread({queue: position}, block=self.FOLLOW_BLOCK_MS, count=500)
            for _, got in reply or []:
                for entry_id, fields in got:
                    position = entry_id
                    yield fields.get(_MESSAGE, b"null")

    async def close(self) -> None:
        """The Redis connection belongs to the caller."""

    async def _existing(
        self, queue: str, count: int | None, last: int | None, follow: bool
    ) -> tuple[Any, bytes]:
        """What is asked for of what the queue holds now, and where --follow goes on from: the entry read
        last, or the newest one now (never `$`, which would lose what arrives between reads)."""
        if last is not None:
            newest_first: Any = await self._redis.xrevrange(queue, count=last)
            entries: Any = list(reversed(newest_first))
        elif follow and count is None:  # --follow alone: what comes from now on
            entries = []
        else:
            entries = await self._redis.xrange(queue, count=count)
        if entries:
            return entries, bytes(entries[-1][0])
        newest: Any = await self._redis.xrevrange(queue, count=1)
        return entries, bytes(newest[0][0]) if newest else b"0-0"
