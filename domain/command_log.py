"""Appending commands to `livescore:commands` — atomically with the checks that must hold when they enter.

One script checks that the caller's remembered credential version is still current (so a password change
stops old logins at once), for a snapshot that the package is active and no snapshot is already queued,
then appends. One round trip per command on the hot path.
"""

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from domain.commands import ChangeActivation, TriggerSnapshot
from domain.scripts.appends import Enqueued, enqueue
from domain.scripts.runner import RedisPyScripts, ScriptRunner
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP, package_view, snapshot_in_flight

# A queued snapshot blocks new triggers for the package until its worker finishes it; should a worker
# lose it for good, triggers resume after this long.
SNAPSHOT_IN_FLIGHT_TTL_S = 900


class CommandLog:
    def __init__(self, redis: Redis, maxlen: int, scripts: ScriptRunner | None = None) -> None:
        """`scripts` runs the checked append, the ingress's hot path (ingress/multiplexed_redis.py)."""
        self._redis = redis
        self._maxlen = maxlen
        self._scripts = scripts or RedisPyScripts(redis)

    async def append(self, command: ChangeActivation | TriggerSnapshot, credential_version: str) -> Enqueued:
        package_id = command.package_id
        call = enqueue(
            view=package_view(package_id),
            commands=COMMANDS_STREAM,
            snapshot_in_flight=snapshot_in_flight(package_id),
            credential_version=credential_version,
            commands_maxlen=self._maxlen,
            fields=command.to_fields(),
            snapshot_request_id=command.request_id if isinstance(command, TriggerSnapshot) else None,
            in_flight_ttl_s=SNAPSHOT_IN_FLIGHT_TTL_S,
        )
        return await call.run(self._scripts)

    async def append_unchecked(self, fields: Mapping[Any, Any]) -> bytes:
        """Append as the service itself (replay, a dead letter retried): no credential or status check."""
        entry_id: Any = await self._redis.xadd(
            COMMANDS_STREAM, dict(fields), maxlen=self._maxlen, approximate=True
        )
        return bytes(entry_id)


async def ensure_consumer_group(redis: Redis, stream: str = COMMANDS_STREAM) -> None:
    """Create the workers' group reading from the start of the stream, unless it exists.

    Both the ingress and the worker call this before anything else, so that no command appended before
    the first worker ever ran is skipped (a group created later at `$` would never see it).
    """
    try:
        await redis.xgroup_create(stream, WORKERS_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
