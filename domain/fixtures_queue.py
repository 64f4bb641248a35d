"""Publishing to a package's fixtures queue (SPEC §4), with the checks that must hold as it happens.

One script per chunk checks, atomically with the appends, that the package is active (nothing is ever
published to an inactive package's queue) and that its backlog leaves room (the queue limit). When it
does not, the script itself appends the package's deactivation to the commands stream, once, so that the
status change goes through the log like every other.
"""

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.backlog import BACKLOG
from domain.commands import DeactivatePackage
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

# KEYS view, queue, commands stream, full guard; ARGV limit, commands maxlen, guard ttl, the number of
# deactivation fields n, those n fields, then the messages. Publishes what fits under the limit. Any lag
# that would keep a message out is counted first (domain/backlog.py): a customer who has read everything
# is never refused because Redis misreports a group after a restart.
_PUBLISH = (
    BACKLOG
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
local limit, nfields = tonumber(ARGV[1]), tonumber(ARGV[4])
local first = 5 + nfields
local size = #ARGV - first + 1
local taken = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  taken = backlog(KEYS[2], redis.call('XINFO', 'GROUPS', KEYS[2]), limit - size, limit)
end
local count = math.max(0, math.min(limit - taken, size))
-- 'message' is domain.messages.MESSAGE_FIELD. Trimmed far above the limit: only entries every group
-- has already received are ever dropped.
for i = first, first + count - 1 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2 * limit, '*', 'message', ARGV[i])
end
if first + count - 1 < #ARGV then
  if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 5, 4 + nfields))
  end
  return {'full', count}
end
return {'ok', count}
"""
)

# KEYS view, queue, once marker; ARGV message, marker ttl, limit. Appends the message unless the marker
# was set before (a snapshot's completion, sent once however often its command is delivered).
_ONCE = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return {'ok', 0} end
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return {'inactive', 0} end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2 * tonumber(ARGV[3]), '*', 'message', ARGV[1])
return {'ok', 1}
"""

# KEYS commands stream, full guard; ARGV commands maxlen, guard ttl, the deactivation's fields. A broker
# that refuses what does not fit (AMQP, `x-overflow` = `reject-publish`) has the service deactivate the
# package through the commands stream, once, as _PUBLISH does.
_DEACTIVATE_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
end
return 1
"""

# KEYS in-flight; ARGV request id. Frees the package for its next snapshot, unless a newer one holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Published:
    """`ok`, `full` (the rest did not fit; the deactivation is enqueued) or `inactive` (nothing sent)."""

    result: str
    count: int


class FixturesQueue:
    def __init__(self, redis: Redis, limit: int, commands_maxlen: int) -> None:
        self._redis = redis
        self._limit = limit
        self._commands_maxlen = commands_maxlen
        self._publish = redis.register_script(_PUBLISH)
        self._once = redis.register_script(_ONCE)
        self._release = redis.register_script(_RELEASE)
        self._deactivate_once = redis.register_script(_DEACTIVATE_ONCE)

    async def publish(
        self, package_id: int, messages: list[bytes], pipe: Pipeline | None = None, queue: str | None = None
    ) -> Any:
        """Append messages to the package's fixtures queue (or `queue`); with a pipeline, queues the call
        and its Published comes from `parse`."""
        deactivation = DeactivatePackage(package_id=package_id, reason=QUEUE_LIMIT_REASON).to_fields()
        fields: list[str | int | bytes] = [item for kv in deactivation.items() for item in kv]
        queue = queue or fixtures_queue(package_id)
        keys = [package_view(package_id), queue, COMMANDS_STREAM, queue_full(package_id)]
        args: list[str | int | bytes] = [
            self._limit,
            self._commands_maxlen,
            QUEUE_FULL_GUARD_S,
            len(fields),
            *fields,
            *messages,
        ]
        reply = await self._publish(keys=keys, args=args, client=pipe)
        return reply if pipe is not None else parse(reply)

    async def publish_once(
        self, package_id: int, queue: str, marker: str, message: bytes, pipe: Pipeline
    ) -> None:
        """Queue the append of one message unless `marker` was used before; a Published from `parse`."""
        keys = [package_view(package_id), queue, marker]
        args: list[str | int | bytes] = [message, SNAPSHOT_DONE_TTL_S, self._limit]
        await self._once(keys=keys, args=args, client=pipe)

    async def deactivate_full(self, package_id: int) -> None:
        """Enqueue the deactivation of a package whose queue refused a message (once per guard time)."""
        fields = DeactivatePackage(package_id=package_id, reason=QUEUE_LIMIT_REASON).to_fields()
        keys = [COMMANDS_STREAM, queue_full(package_id)]
        args: list[str | int] = [
            self._commands_maxlen,
            QUEUE_FULL_GUARD_S,
            *(x for kv in fields.items() for x in kv),
        ]
        await self._deactivate_once(keys=keys, args=args)

    async def release_snapshot(self, package_id: int, request_id: str) -> None:
        """Free the package for its next snapshot."""
        await self._release(keys=[snapshot_in_flight(package_id)], args=[request_id])

    async def is_finished(self, request_id: str) -> bool:
        return bool(await self._redis.exists(snapshot_done(request_id)))


def parse(reply: list[Any]) -> Published:
    result, count = reply
    return Published(result.decode() if isinstance(result, bytes) else str(result), int(count))
