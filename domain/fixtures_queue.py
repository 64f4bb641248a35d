"""Publishing to a package's fixtures queue (SPEC §4), with the checks that must hold as it happens.

One script per chunk checks, atomically with the appends, that the package is active (nothing is ever
published to an inactive package's queue) and that its backlog leaves room (the queue limit). When it
does not, the script itself appends the package's deactivation to the commands stream, once, so that the
status change goes through the log like every other.
"""

from typing import Any, overload

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.commands import DeactivatePackage
from domain.delivery import Published
from domain.messages import MESSAGE_FIELD
from domain.scripts import appends, publishing
from domain.scripts.runner import RedisPyScripts
from domain.streams import (
    COMMANDS_STREAM,
    fixtures_queue,
    package_view,
    queue_full,
    snapshot_done,
    snapshot_in_flight,
)

# Why the service deactivated a package; shown by `status`.
QUEUE_LIMIT_REASON = "queue-limit"
# While the deactivation of an overflowing package is pending, further overflows do not enqueue another.
QUEUE_FULL_GUARD_S = 60
# A completed snapshot's marker outlives any redelivery of its command.
SNAPSHOT_DONE_TTL_S = 86_400


class FixturesQueue:
    def __init__(self, redis: Redis, limit: int, commands_maxlen: int) -> None:
        self._redis = redis
        self._scripts = RedisPyScripts(redis)
        self._limit = limit
        self._commands_maxlen = commands_maxlen

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
            commands=COMMANDS_STREAM,
            full_guard=queue_full(package_id),
            limit=self._limit,
            commands_maxlen=self._commands_maxlen,
            guard_ttl_s=QUEUE_FULL_GUARD_S,
            message_field=MESSAGE_FIELD,
            deactivation=_deactivation(package_id),
            messages=messages,
        )
        if pipe is None:
            return await call.run(self._scripts)
        await call.submit(self._scripts.on(pipe))
        return None

    async def publish_once(
        self, package_id: int, queue: str, marker: str, message: bytes, pipe: Pipeline
    ) -> None:
        """Queue the append of one message unless `marker` was used before; a Published from `parse`."""
        call = publishing.publish_once(
            view=package_view(package_id),
            queue=queue,
            marker=marker,
            marker_ttl_s=SNAPSHOT_DONE_TTL_S,
            limit=self._limit,
            message_field=MESSAGE_FIELD,
            message=message,
        )
        await call.submit(self._scripts.on(pipe))

    async def deactivate_full(self, package_id: int) -> None:
        """Enqueue the deactivation of a package whose queue refused a message (once per guard time)."""
        call = publishing.deactivate_once(
            commands=COMMANDS_STREAM,
            full_guard=queue_full(package_id),
            commands_maxlen=self._commands_maxlen,
            guard_ttl_s=QUEUE_FULL_GUARD_S,
            deactivation=_deactivation(package_id),
        )
        await call.run(self._scripts)

    async def release_snapshot(self, package_id: int, request_id: str) -> None:
        """Free the package for its next snapshot."""
        call = appends.release_snapshot(
            snapshot_in_flight=snapshot_in_flight(package_id), request_id=request_id
        )
        await call.run(self._scripts)

    async def is_finished(self, request_id: str) -> bool:
        return bool(await self._redis.exists(snapshot_done(request_id)))


def parse(reply: Any) -> Published:
    """The Published of a `publish` or `publish_once` queued on a pipeline, from its reply."""
    return publishing.published(reply)


def _deactivation(package_id: int) -> dict[str, str]:
    """The command the service appends when the package's queue is full."""
    return DeactivatePackage(package_id=package_id, reason=QUEUE_LIMIT_REASON).to_fields()
