"""A snapshot's bookkeeping beside its messages (SPEC §4): which package's snapshot is running, and whether
a snapshot's completion went out — whichever delivery carried it."""

from redis.asyncio import Redis

from domain.scripts import appends
from domain.scripts.runner import RedisPyScripts
from domain.streams import sent_once, snapshot_in_flight

# A completion's mark outlives any redelivery of its command.
SENT_ONCE_TTL_S = 86_400


def completion_name(request_id: str) -> str:
    """The name a snapshot's completion is sent under, once (domain.delivery.Parcel.once)."""
    return f"snapshot:{request_id}"


class SnapshotBook:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts = RedisPyScripts(redis)

    async def is_finished(self, request_id: str) -> bool:
        """Whether the snapshot's completion was sent (a redelivered command has nothing left to do)."""
        return bool(await self._redis.exists(sent_once(completion_name(request_id))))

    async def release(self, package_id: int, request_id: str) -> None:
        """Free the package for its next snapshot."""
        call = appends.release_snapshot(
            snapshot_in_flight=snapshot_in_flight(package_id), request_id=request_id
        )
        await call.run(self._scripts)
