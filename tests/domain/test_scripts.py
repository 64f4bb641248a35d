"""The Lua scripts' runner and typed wrappers (domain/scripts/), against a real Redis."""

from typing import Any

from redis.asyncio import Redis

from domain.commands import StreamId
from domain.delivery import Published, PublishResult
from domain.package_status import PackageStatus
from domain.packages import PackageState
from domain.scripts.appends import Enqueued, EnqueueResult, enqueue
from domain.scripts.groups import GroupFigures, group_figures
from domain.scripts.publishing import deactivate_once, publish
from domain.scripts.runner import LuaScript, RedisPyScripts
from domain.scripts.tries import Reservation, reserve_try
from domain.scripts.views import remember_state, remember_states

INCR = LuaScript("return redis.call('INCR', KEYS[1])")
VIEW, COMMANDS, IN_FLIGHT = "test:view", "test:commands", "test:in-flight"


async def test_a_script_redis_lacks_is_loaded_and_run(redis: Redis) -> None:
    await redis.script_flush()
    scripts = RedisPyScripts(redis)
    assert [await scripts.run(INCR, ["n"], []) for _ in range(2)] == [1, 2]


async def test_on_a_pipeline_calls_are_queued_and_answered_together_in_order(redis: Redis) -> None:
    await redis.script_flush()
    pipe = redis.pipeline(transaction=False)
    queued = RedisPyScripts(redis).on(pipe)
    for key in ["a", "b", "a"]:
        await queued.run(INCR, [key], [])
    pipe.get("a")
    assert await redis.get("a") is None  # nothing sent yet
    assert await pipe.execute() == [1, 1, 2, b"2"]


async def test_a_typed_call_queued_on_a_pipeline_reads_its_reply_from_the_pipeline(redis: Redis) -> None:
    state = PackageState(PackageStatus.ACTIVE, StreamId(1, 0))
    call = remember_state(view=VIEW, state=state)
    pipe = redis.pipeline(transaction=False)
    await call.submit(RedisPyScripts(redis).on(pipe))
    (reply,) = await pipe.execute()
    assert call.read(reply) is PackageStatus.ACTIVE


def append(credential_version: str, request_id: str | None = None) -> Any:
    return enqueue(
        view=VIEW,
        commands=COMMANDS,
        snapshot_in_flight=IN_FLIGHT,
        credential_version=credential_version,
        commands_maxlen=100,
        fields={"type": "snapshot" if request_id else "activate"},
        snapshot_request_id=request_id,
        in_flight_ttl_s=60,
    )


async def test_the_checked_append_answers_each_of_its_outcomes(redis: Redis) -> None:
    scripts = RedisPyScripts(redis)
    await redis.hset(VIEW, mapping={"cv": "v1", "status": "inactive"})
    assert await append("v0").run(scripts) == Enqueued(EnqueueResult.STALE)
    assert await append("v1", "r1").run(scripts) == Enqueued(EnqueueResult.INACTIVE)
    queued = await append("v1").run(scripts)
    await redis.hset(VIEW, "status", "active")
    first = await append("v1", "r1").run(scripts)
    assert await append("v1", "r2").run(scripts) == Enqueued(EnqueueResult.COALESCED, "r1")
    entries: Any = await redis.xrange(COMMANDS)
    assert (queued.result, first.result) == (EnqueueResult.QUEUED, EnqueueResult.QUEUED)
    assert [entry_id.decode() for entry_id, _ in entries] == [queued.value, first.value]


async def test_publish_writes_the_message_field_it_is_given(redis: Redis) -> None:
    await redis.hset(VIEW, "status", "active")
    call = publish(
        view=VIEW, queue="test:queue", limit=2, message_field="payload", messages=[b"1", b"2", b"3"]
    )
    assert await call.run(RedisPyScripts(redis)) == Published(PublishResult.FULL, 2)
    entries: Any = await redis.xrange("test:queue")
    assert [fields for _, fields in entries] == [{b"payload": b"1"}, {b"payload": b"2"}]


async def test_a_full_queue_deactivates_once_per_activation(redis: Redis) -> None:
    """Refusals under one activation append one deactivation; under the next activation, one more; none
    while the package is inactive."""
    scripts = RedisPyScripts(redis)
    deactivate = deactivate_once(
        view=VIEW,
        commands=COMMANDS,
        full_guard="test:full",
        commands_maxlen=100,
        guard_ttl_s=60,
        deactivation={"type": "deactivate", "packageId": "1"},
    )
    await redis.hset(VIEW, mapping={"status": "active", "ms": "5", "seq": "0"})
    first = [await deactivate.run(scripts) for _ in range(3)]
    await redis.hset(VIEW, mapping={"status": "inactive", "ms": "6", "seq": "0"})
    while_inactive = await deactivate.run(scripts)
    await redis.hset(VIEW, mapping={"status": "active", "ms": "7", "seq": "0"})
    again = [await deactivate.run(scripts) for _ in range(2)]
    commands: Any = await redis.xrange(COMMANDS)
    assert (first, while_inactive, again) == ([True, False, False], False, [True, False])
    assert [fields for _, fields in commands] == [{b"type": b"deactivate", b"packageId": b"1"}] * 2


async def test_a_spent_budget_refuses_with_the_time_left_and_counts_nothing(redis: Redis) -> None:
    scripts = RedisPyScripts(redis)
    reserve = reserve_try(counters=["test:tries"], limits=[0], window_s=30)
    assert await reserve.run(scripts) == Reservation(0)
    refused = await reserve.run(scripts)
    assert not refused.reserved
    assert 1 <= refused.retry_after_s <= 30
    assert await redis.get("test:tries") == b"1"


async def test_group_figures_are_none_without_the_group_and_exact_with_it(redis: Redis) -> None:
    scripts = RedisPyScripts(redis)
    figures = group_figures(stream="test:stream", group="g", most=100)
    assert await figures.run(scripts) is None
    for _ in range(3):
        await redis.xadd("test:stream", {"n": "1"})
    await redis.xgroup_create("test:stream", "g", id="0")
    await redis.xreadgroup("g", "c", {"test:stream": ">"}, count=1)
    assert await figures.run(scripts) == GroupFigures(pending=1, consumers=1, lag=2)


async def test_a_batch_of_states_is_remembered_in_one_call_where_each_is_newer(redis: Redis) -> None:
    older, newer = StreamId(5, 0), StreamId(7, 0)
    scripts = RedisPyScripts(redis)
    await remember_state(view="test:view:a", state=PackageState(PackageStatus.ACTIVE, newer)).run(scripts)
    await remember_state(view="test:view:b", state=PackageState(PackageStatus.ACTIVE, older)).run(scripts)
    batch = {
        "test:view:a": PackageState(PackageStatus.INACTIVE, older),  # older than the copy: ignored
        "test:view:b": PackageState(PackageStatus.INACTIVE, newer, "queue-limit"),
        "test:view:c": PackageState(PackageStatus.ACTIVE, older),  # no copy yet
    }
    assert await remember_states(batch).run(scripts) == 2
    statuses = [await redis.hmget(f"test:view:{k}", "status", "reason") for k in "abc"]
    assert statuses == [[b"active", b""], [b"inactive", b"queue-limit"], [b"active", b""]]
