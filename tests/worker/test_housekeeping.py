"""What keeps the streams bounded and the group tidy: trimming, and removing departed consumers."""

from typing import Any

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from domain.command_log import CommandLog, ensure_consumer_group
from domain.commands import ActivatePackage
from domain.streams import COMMANDS_STREAM, FIXTURE_UPDATES_STREAM, WORKERS_GROUP
from tests.support import eventually
from worker.consumers import GroupMonitor


async def test_the_commands_stream_is_trimmed_to_about_its_maximum_length(redis: Redis) -> None:
    log = CommandLog(redis, maxlen=50)
    for _ in range(2000):
        await log.append_unchecked(ActivatePackage(package_id=1).to_fields())
    # Trimming is approximate (whole radix-tree nodes of about 100 entries): bounded, not exact.
    assert 50 <= await redis.xlen(COMMANDS_STREAM) <= 250


async def test_consumers_of_departed_workers_are_removed_once_they_hold_nothing(redis: Redis) -> None:
    await ensure_consumer_group(redis)
    await ensure_consumer_group(redis, FIXTURE_UPDATES_STREAM)
    fields: Any = ActivatePackage(package_id=1).to_fields()
    await redis.xadd(COMMANDS_STREAM, fields)
    await redis.xreadgroup(WORKERS_GROUP, "departed-holding", {COMMANDS_STREAM: ">"})
    await redis.xreadgroup(WORKERS_GROUP, "departed-empty", {COMMANDS_STREAM: ">"})
    await redis.xreadgroup(WORKERS_GROUP, "me", {COMMANDS_STREAM: ">"})
    await eventually(lambda: _all_idle_longer_than(redis, 10), 5, "every consumer idle for 10 ms")
    removed = await GroupMonitor(redis, "me", idle_ms=10).sweep()
    consumers: Any = await redis.xinfo_consumers(COMMANDS_STREAM, WORKERS_GROUP)
    assert removed == ["departed-empty"]
    assert sorted(c["name"].decode() for c in consumers) == ["departed-holding", "me"]


async def _all_idle_longer_than(redis: Redis, ms: int) -> bool:
    consumers: Any = await redis.xinfo_consumers(COMMANDS_STREAM, WORKERS_GROUP)
    return all(c["idle"] > ms for c in consumers)


def lag_gauge(stream: str) -> float | None:
    return REGISTRY.get_sample_value("livescore_stream_lag", {"stream": stream})


async def test_the_lag_gauge_counts_what_a_group_moved_with_setid_has_not_been_delivered(
    redis: Redis,
) -> None:
    await ensure_consumer_group(redis)
    await ensure_consumer_group(redis, FIXTURE_UPDATES_STREAM)
    fields: Any = ActivatePackage(package_id=1).to_fields()
    ids = [await redis.xadd(COMMANDS_STREAM, fields) for _ in range(10)]
    await redis.xreadgroup(WORKERS_GROUP, "me", {COMMANDS_STREAM: ">"})
    await redis.xgroup_setid(COMMANDS_STREAM, WORKERS_GROUP, id=ids[4])
    await GroupMonitor(redis, "me", idle_ms=10).refresh()
    assert lag_gauge(COMMANDS_STREAM) == 5
    assert lag_gauge(FIXTURE_UPDATES_STREAM) == 0
