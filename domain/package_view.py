"""The Redis copy of each package's status and credential version, which the ingress reads per request.

Storage stays the truth. The worker updates the copy after committing and before answering, so a status
read right after a 200 sees the change (read-your-writes). Every write carries the stream id of the
activation command it reflects and only a newer one wins, so racing writers cannot leave it stale.
When the copy is missing (Redis wiped, a package never touched), the ingress rebuilds it from storage.
"""

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.backlog import BACKLOG
from domain.commands import PackageStatus, StreamId
from domain.scripts import LuaScript, RedisPyScripts, ScriptRunner
from domain.settings import DEFAULT_QUEUE_LIMIT
from domain.streams import fixtures_queue, package_view

# KEYS[1] view; ARGV status, ms, seq, credential version ('' = leave it).
# The credential version is only set when absent: `package set-password` is its one writer, so a
# reader holding an older version from storage can never bring it back.
_REMEMBER = """
local cur = redis.call('HMGET', KEYS[1], 'ms', 'seq')
local newer = true
if cur[1] then
  local cms, cseq = tonumber(cur[1]), tonumber(cur[2])
  local ms, seq = tonumber(ARGV[2]), tonumber(ARGV[3])
  newer = ms > cms or (ms == cms and seq > cseq)
end
if newer then redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ms', ARGV[2], 'seq', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSETNX', KEYS[1], 'cv', ARGV[4]) end
return redis.call('HGET', KEYS[1], 'status')
"""


# KEYS view, the package's fixtures queue; ARGV the queue limit. The status copy and the queue's
# distribution figures, read together so that a status answer costs one round trip. The backlog is the
# publish script's own (domain/backlog.py); what Redis reports is taken as it is, and only a lag it cannot
# tell is counted, once.
_READ = LuaScript(
    BACKLOG
    + """
local view = redis.call('HMGET', KEYS[1], 'cv', 'status')
local length, pending, consumers, lag = 0, 0, 0, 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  length = redis.call('XLEN', KEYS[2])
  local groups = redis.call('XINFO', 'GROUPS', KEYS[2])
  for _, group in ipairs(groups) do
    pending = pending + field(group, 'pending')
    consumers = consumers + field(group, 'consumers')
  end
  lag = backlog(KEYS[2], groups, math.huge, tonumber(ARGV[1]))
end
return {view[1], view[2], length, pending, consumers, lag}
"""
)


@dataclass(frozen=True, slots=True)
class QueueState:
    """A fixtures queue as its customer sees it: entries, delivered but unacknowledged, readers, backlog."""

    name: str
    length: int
    pending: int
    consumers: int
    lag: int


@dataclass(frozen=True, slots=True)
class ViewState:
    credential_version: str | None
    status: PackageStatus | None
    queue: QueueState


class PackageView:
    def __init__(
        self, redis: Redis, scripts: ScriptRunner | None = None, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        """`scripts` runs the read, the ingress's hot path (domain/scripts.py); redis-py by default."""
        self._redis = redis
        self._scripts = scripts or RedisPyScripts(redis)
        self._queue_limit = queue_limit
        self._remember = redis.register_script(_REMEMBER)

    async def read(self, package_id: int) -> ViewState:
        queue = fixtures_queue(package_id)
        cv, status, *figures = await self._scripts.run(
            _READ, [package_view(package_id), queue], [self._queue_limit]
        )
        text = _text(status)
        return ViewState(
            _text(cv), PackageStatus(text) if text else None, QueueState(queue, *map(int, figures))
        )

    async def remember(
        self,
        package_id: int,
        status: PackageStatus,
        applied: StreamId,
        credential_version: str = "",
        pipe: Pipeline | None = None,
    ) -> PackageStatus:
        """Record a status if newer than the copy's; returns the status the copy holds afterwards."""
        args = [status.value, applied.ms, applied.seq, credential_version]
        result = await self._remember(keys=[package_view(package_id)], args=args, client=pipe)
        return PackageStatus(_text(result) or status.value) if pipe is None else status

    async def replace_credentials(self, package_id: int, credential_version: str) -> None:
        await self._redis.hset(package_view(package_id), "cv", credential_version)

    async def forget_credentials(self, package_id: int) -> None:
        await self._redis.hdel(package_view(package_id), "cv")


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
