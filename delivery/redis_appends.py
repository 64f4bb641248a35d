"""The Redis-streams delivery's appends (SPEC §4, §10), with the checks that must hold as they happen.

One script per parcel checks, atomically with the appends, that the package is active (nothing is ever
appended to an inactive package's queue) and that its backlog leaves room (the queue limit). What does
not fit is reported (`full`), and the caller has the package deactivated (domain/queue_limit.py).
"""

from typing import Any, overload

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.delivery import Published
from domain.messages import MESSAGE_FIELD
from domain.scripts import publishing
from domain.scripts.runner import RedisPyScripts
from domain.snapshot_book import SENT_ONCE_TTL_S
from domain.streams import fixtures_queue, package_view, sent_once


class StreamAppends:
    def __init__(self, redis: Redis, limit: int) -> None:
        self._redis = redis
        self._scripts = RedisPyScripts(redis)
        self._limit = limit

    @overload
    async def publish(
        self, package_id: int, messages: list[bytes], pipe: None = None, queue: str | None = None
    ) -> Published: ...

    @overload
    async def publish(
        self, package_id: int, messages: list[bytes], pipe: Pipeline, queue: str | None = None
    ) -> None: ...

    async def publish(
        self, package_id: int, messages: list[bytes], pipe: Pipeline | None = None, queue: str | None = None
    ) -> Published | None:
        """Append messages to the package's fixtures queue (or `queue`); with a pipeline, queues the call
        and its Published comes from `parse`."""
        call = publishing.publish(
            view=package_view(package_id),
            queue=queue or fixtures_queue(package_id),
            limit=self._limit,
            message_field=MESSAGE_FIELD,
            messages=messages,
        )
        if pipe is None:
            return await call.run(self._scripts)
        await call.submit(self._scripts.on(pipe))
        return None

    async def publish_once(
        self, package_id: int, queue: str, name: str, message: bytes, pipe: Pipeline
    ) -> None:
        """Queue the append of one message, if it fits, unless a message was sent under `name` before; a
        Published from `parse`."""
        call = publishing.publish_once(
            view=package_view(package_id),
            queue=queue,
            marker=sent_once(name),
            marker_ttl_s=SENT_ONCE_TTL_S,
            limit=self._limit,
            message_field=MESSAGE_FIELD,
            message=message,
        )
        await call.submit(self._scripts.on(pipe))


def parse(reply: Any) -> Published:
    """The Published of a `publish` or `publish_once` queued on a pipeline, from its reply."""
    return publishing.published(reply)
