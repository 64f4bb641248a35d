"""The Redis copy of each package's status and credential version, which the ingress reads per request.

Storage stays the truth. The worker updates the copy after committing and before answering, so a status
read right after a 200 sees the change (read-your-writes). Every write carries the stream id of the
activation command it reflects and only a newer one wins, so racing writers cannot leave it stale.
When the copy is missing (Redis wiped, a package never touched), the ingress rebuilds it from storage.
"""

from collections.abc import Iterable, Mapping

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import StreamId
from domain.package_status import PackageStatus
from domain.packages import PackageState, stored_states
from domain.scripts.runner import RedisPyScripts, ScriptRunner
from domain.scripts.tries import UNLIMITED, Budgets
from domain.scripts.views import ViewState, read_view, refresh_view, remember_state, remember_states
from domain.settings import DEFAULT_QUEUE_LIMIT
from domain.streams import fixtures_queue, package_id_of_view, package_view, package_view_pattern


class PackageView:
    def __init__(
        self, redis: Redis, scripts: ScriptRunner | None = None, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        """`scripts` runs the read, the ingress's hot path (ingress/multiplexed_redis.py); redis-py by
        default."""
        self._redis = redis
        self._redis_py = RedisPyScripts(redis)
        self._scripts = scripts or self._redis_py
        self._queue_limit = queue_limit

    async def read(
        self, package_id: int, queue: str | None = None, budgets: Budgets = UNLIMITED
    ) -> ViewState:
        """The copy, and the figures of the package's fixtures queue (or of `queue`), in one round trip —
        or only `retry_after_s`, when one of the caller's `budgets` is spent."""
        queue = queue or fixtures_queue(package_id)
        view = package_view(package_id)
        call = read_view(view=view, queue=queue, queue_limit=self._queue_limit, budgets=budgets)
        return await call.run(self._scripts)

    async def remember(
        self, package_id: int, state: PackageState, credential_version: str = ""
    ) -> PackageStatus:
        """Record a state if its command is newer than the copy's; returns the status the copy holds
        afterwards."""
        call = remember_state(
            view=package_view(package_id), state=state, credential_version=credential_version
        )
        return await call.run(self._redis_py) or state.status

    async def remember_all(self, states: dict[int, PackageState], pipe: Pipeline | None = None) -> None:
        """`remember` for many packages in one script call: queued on `pipe`, or run now."""
        if not states:
            return
        call = remember_states({package_view(package_id): state for package_id, state in states.items()})
        await call.submit(self._redis_py if pipe is None else self._redis_py.on(pipe))

    async def remember_active(self, applied: Mapping[int, StreamId]) -> None:
        """Before publishing to packages storage says are active (with the command that activated each):
        their copies made to say so, for the deliveries trust only the copy (SPEC §2.5: a copy lost with
        Redis, a database restored). Versioned: a newer deactivation already copied stays and wins."""
        await self.remember_all({p: PackageState(PackageStatus.ACTIVE, at) for p, at in applied.items()})

    async def refresh(self, stored: Iterable[tuple[int, PackageState, str]]) -> None:
        """Bring the copies of these packages (id, state, credential version, as read from storage after
        a write outside the commands stream) in line with storage."""
        pipe = self._redis.pipeline(transaction=False)
        queued = self._redis_py.on(pipe)
        for package_id, state, credential_version in stored:
            call = refresh_view(
                view=package_view(package_id), state=state, credential_version=credential_version
            )
            await call.submit(queued)
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
