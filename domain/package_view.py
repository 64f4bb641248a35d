"""The Redis copy of each package's status and credential version, which the ingress reads per request.

Storage stays the truth. The worker updates the copy after committing and before answering, so a status
read right after a 200 sees the change (read-your-writes). Every write carries the stream id of the
activation command it reflects and only a newer one wins, so racing writers cannot leave it stale.
When the copy is missing (Redis wiped, a package never touched), the ingress rebuilds it from storage.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.backlog import BACKLOG
from domain.commands import PackageStatus, text_of
from domain.delivery import QueueFigures
from domain.packages import PackageState, stored_states
from domain.scripts import LuaScript, RedisPyScripts, ScriptRunner
from domain.settings import DEFAULT_QUEUE_LIMIT
from domain.streams import fixtures_queue, package_id_of_view, package_view, package_view_pattern

# How the command behind the copy in KEYS[1] compares with stream id ARGV[2]-ARGV[3]: -1 older, 0 the
# same, 1 newer; nil when there is no copy.
_COPY_ORDER = """
local function copy_order()
  local cur = redis.call('HMGET', KEYS[1], 'ms', 'seq')
  if not cur[1] then return nil end
  local cms, cseq = tonumber(cur[1]), tonumber(cur[2])
  local ms, seq = tonumber(ARGV[2]), tonumber(ARGV[3])
  if cms == ms and cseq == seq then return 0 end
  if cms > ms or (cms == ms and cseq > seq) then return 1 end
  return -1
end
"""

# KEYS[1] view; ARGV status, ms, seq, reason ('' = none), credential version ('' = leave it).
# Only a newer command wins. The credential version is only set when absent: `package set-password` is
# its one writer, so a reader holding an older version from storage can never bring it back.
_REMEMBER = (
    _COPY_ORDER
    + """
local order = copy_order()
if order == nil or order < 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ms', ARGV[2], 'seq', ARGV[3], 'reason', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('HSETNX', KEYS[1], 'cv', ARGV[5]) end
return redis.call('HGET', KEYS[1], 'status')
"""
)

# KEYS[1] view; ARGV status, ms, seq, reason, credential version — as storage holds them after a write
# outside the commands stream (SPEC §2.5). A copy newer than what was read from storage reflects a
# command committed since, or one storage no longer holds (a restored database): it is dropped, and the
# next request rebuilds it from storage. Either way the copy never says what storage does not.
_REFRESH = (
    _COPY_ORDER
    + """
local order = copy_order()
if order ~= nil and order > 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'ms', ARGV[2], 'seq', ARGV[3], 'reason', ARGV[4],
  'cv', ARGV[5])
return 1
"""
)


# KEYS view, the package's fixtures queue; ARGV the queue limit. The status copy and the queue's
# distribution figures, read together so that a status answer costs one round trip. The backlog is the
# publish script's own (domain/backlog.py); what Redis reports is taken as it is, and only a lag it cannot
# tell is counted, once.
_READ = LuaScript(
    BACKLOG
    + """
local view = redis.call('HMGET', KEYS[1], 'cv', 'status', 'reason')
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
return {view[1], view[2], view[3], length, pending, consumers, lag}
"""
)


@dataclass(frozen=True, slots=True)
class ViewState:
    credential_version: str | None
    status: PackageStatus | None
    queue: QueueFigures
    # Why the service set the status (e.g. "queue-limit"); None when the customer did.
    reason: str | None = None
    # The package's incidents queue, where the delivery reports it (AMQP, SPEC §9).
    incidents_queue: QueueFigures | None = None


class PackageView:
    def __init__(
        self, redis: Redis, scripts: ScriptRunner | None = None, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        """`scripts` runs the read, the ingress's hot path (domain/scripts.py); redis-py by default."""
        self._redis = redis
        self._scripts = scripts or RedisPyScripts(redis)
        self._queue_limit = queue_limit
        self._remember = redis.register_script(_REMEMBER)
        self._refresh = redis.register_script(_REFRESH)

    async def read(self, package_id: int, queue: str | None = None) -> ViewState:
        """The copy, and the figures of the package's fixtures queue (or of `queue`), in one round trip."""
        queue = queue or fixtures_queue(package_id)
        keys = [package_view(package_id), queue]
        cv, status, reason, *figures = await self._scripts.run(_READ, keys, [self._queue_limit])
        text = _text(status)
        return ViewState(
            _text(cv),
            PackageStatus(text) if text else None,
            _figures(queue, figures),
            _text(reason) or None,
        )

    async def remember(
        self, package_id: int, state: PackageState, credential_version: str = "", pipe: Pipeline | None = None
    ) -> PackageStatus:
        """Record a state if its command is newer than the copy's; returns the status the copy holds
        afterwards (with a pipeline: the state's own)."""
        args = [*_state_args(state), credential_version]
        result = await self._remember(keys=[package_view(package_id)], args=args, client=pipe)
        return PackageStatus(_text(result) or state.status.value) if pipe is None else state.status

    async def refresh(self, stored: Iterable[tuple[int, PackageState, str]]) -> None:
        """Bring the copies of these packages (id, state, credential version, as read from storage after
        a write outside the commands stream) in line with storage."""
        pipe = self._redis.pipeline(transaction=False)
        for package_id, state, credential_version in stored:
            await self._refresh(
                keys=[package_view(package_id)], args=[*_state_args(state), credential_version], client=pipe
            )
        await pipe.execute()

    async def forget(self, package_ids: Iterable[int]) -> None:
        """Drop the copies of packages storage no longer holds."""
        keys = [package_view(package_id) for package_id in package_ids]
        if keys:
            await self._redis.delete(*keys)

    async def copied_packages(self) -> list[int]:
        """The ids of every package with a copy."""
        ids = []
        async for key in self._redis.scan_iter(match=package_view_pattern(), count=1000):
            ids.append(package_id_of_view(key))
        return ids

    async def replace_credentials(self, package_id: int, credential_version: str) -> None:
        await self._redis.hset(package_view(package_id), "cv", credential_version)

    async def forget_credentials(self, package_id: int) -> None:
        await self._redis.hdel(package_view(package_id), "cv")


def _figures(queue: str, figures: list[int]) -> QueueFigures:
    length, pending, consumers, lag = (int(figure) for figure in figures)
    return QueueFigures(queue, length, pending, consumers, lag)


def _state_args(state: PackageState) -> list[str | int]:
    return [state.status.value, state.applied.ms, state.applied.seq, state.reason or ""]


def _text(value: bytes | str | None) -> str | None:
    return None if value is None else text_of(value)


async def refresh_from_storage(
    engine: AsyncEngine, view: PackageView, package_ids: list[int] | None = None
) -> None:
    """After a write outside the commands stream (SPEC §2.5): the copies of these packages — or of every
    package, dropping the copies of packages storage no longer holds — made to agree with storage."""
    async with engine.connect() as conn:
        stored = await stored_states(conn, package_ids)
    await view.refresh(stored)
    if package_ids is None:
        held = {package_id for package_id, _, _ in stored}
        await view.forget(
            [package_id for package_id in await view.copied_packages() if package_id not in held]
        )
