"""Appending commands to `livescore:commands` — atomically with the checks that must hold when they enter.

One script checks that the caller's remembered credential version is still current (so a password change
stops old logins at once), for a snapshot that the package is active and no snapshot is already queued,
then appends. One round trip per command on the hot path.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from domain.commands import ChangeActivation, TriggerSnapshot
from domain.scripts import LuaScript, RedisPyScripts, ScriptRunner
from domain.streams import COMMANDS_STREAM, WORKERS_GROUP, package_view, snapshot_in_flight

# A queued snapshot blocks new triggers for the package until its worker finishes it; should a worker
# lose it for good, triggers resume after this long.
SNAPSHOT_IN_FLIGHT_TTL_S = 900

# KEYS view, commands stream, snapshot in-flight; ARGV expected cv, maxlen, is snapshot, request id,
# in-flight ttl, then the entry's field/value pairs.
_ENQUEUE = LuaScript("""
local view = redis.call('HMGET', KEYS[1], 'cv', 'status')
if view[1] ~= ARGV[1] then return {'stale'} end
if ARGV[3] == '1' then
  if view[2] ~= 'active' then return {'inactive'} end
  local running = redis.call('GET', KEYS[3])
  if running then return {'coalesced', running} end
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 6))
return {'queued', id}
""")


@dataclass(frozen=True, slots=True)
class Enqueued:
    """`queued` (with the entry id), `coalesced` (with the running snapshot's requestId), `inactive`
    or `stale` (the credential version changed: authenticate again)."""

    result: str
    value: str = ""


class CommandLog:
    def __init__(self, redis: Redis, maxlen: int, scripts: ScriptRunner | None = None) -> None:
        """`scripts` runs the checked append, the ingress's hot path (domain/scripts.py)."""
        self._redis = redis
        self._maxlen = maxlen
        self._scripts = scripts or RedisPyScripts(redis)

    async def append(self, command: ChangeActivation | TriggerSnapshot, credential_version: str) -> Enqueued:
        snapshot = isinstance(command, TriggerSnapshot)
        request_id = command.request_id if isinstance(command, TriggerSnapshot) else ""
        pairs: list[str | int] = [item for kv in command.to_fields().items() for item in kv]
        keys = [package_view(command.package_id), COMMANDS_STREAM, snapshot_in_flight(command.package_id)]
        args: list[str | int] = [
            credential_version,
            self._maxlen,
            "1" if snapshot else "0",
            request_id,
            SNAPSHOT_IN_FLIGHT_TTL_S,
        ]
        reply = await self._scripts.run(_ENQUEUE, keys, [*args, *pairs])
        return Enqueued(*(v.decode() if isinstance(v, bytes) else str(v) for v in reply))

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
