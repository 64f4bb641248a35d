"""Crash safety with real processes: several workers, a worker killed or stopped, Redis restarted or wiped.

Whatever happens, SPEC §3 holds: every package's status in storage is the effect of its latest
activate/deactivate command in the stream, and nothing acknowledged is lost.
"""

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import ActivatePackage, DeactivatePackage, StreamId
from domain.package_status import PackageStatus
from domain.packages import package_state
from domain.streams import COMMANDS_STREAM, DEAD_LETTERS_STREAM, WORKERS_GROUP
from tests.e2e.processes import (
    Ingress,
    PersistentRedis,
    Processes,
    Worker,
    add_packages,
    commands_in_stream,
    drained,
    group_info,
    last_commands,
    stored_statuses,
)
from tests.e2e.traffic import HTTP_TIMEOUT_S, PATHS, Answer, keep_sending
from tests.support import append_commands, eventually

PACKAGE_IDS = [101, 102, 103, 104, 105]
# The requests that change a package (kinds of traffic.PATHS).
CHANGES = ("activate", "deactivate")
# Bounds on waiting for the service; generous for a loaded 2-core machine, yet far below a hang.
DRAIN_TIMEOUT_S = 30


def http(ingress: Ingress) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=ingress.base_url, timeout=HTTP_TIMEOUT_S)


def random_command(rng: random.Random, package_id: int) -> dict[str, str]:
    kind = ActivatePackage if rng.random() < 0.5 else DeactivatePackage
    return kind(package_id=package_id).to_fields()


async def assert_storage_follows_the_stream(redis: Redis, storage: AsyncEngine) -> dict[int, PackageStatus]:
    await eventually(lambda: drained(redis), DRAIN_TIMEOUT_S, "every command applied and acknowledged")
    expected = await last_commands(redis)
    assert expected, "no activation command in the stream"
    assert await stored_statuses(storage, list(expected)) == expected
    assert await redis.xlen(DEAD_LETTERS_STREAM) == 0
    return expected


async def statuses_over_http(ingress: Ingress, bodies: dict[int, dict[str, Any]]) -> dict[int, str]:
    async with http(ingress) as client:
        answers = {i: await client.post(PATHS["status"], json=body) for i, body in bodies.items()}
    return {i: answer.json()["status"] for i, answer in answers.items()}


async def test_three_workers_agree_with_the_stream(
    processes: Processes, redis: Redis, storage: AsyncEngine, database_url: str
) -> None:
    bodies = await add_packages(database_url, PACKAGE_IDS)
    ingress = processes.spawn_ingress()
    workers = [processes.spawn_worker() for _ in range(3)]
    await processes.wait_for_ingress(ingress)
    for worker in workers:
        await processes.wait_for_worker(worker)

    rng = random.Random(1)
    requests = [(rng.choice(CHANGES), rng.choice(PACKAGE_IDS)) for _ in range(300)]
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=ingress.base_url, timeout=HTTP_TIMEOUT_S, limits=limits) as client:
        answers = await asyncio.gather(*(client.post(PATHS[k], json=bodies[i]) for k, i in requests))

    assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers]
    expected = await assert_storage_follows_the_stream(redis, storage)
    assert len(await commands_in_stream(redis)) == len(requests)
    assert set(expected) == set(PACKAGE_IDS)
    assert await statuses_over_http(ingress, bodies) == {i: s.value for i, s in expected.items()}
    assert await consumers_given_commands(redis) >= {w.consumer for w in workers}, "a worker sat idle"
    assert all(w.running for w in workers)


async def consumers_given_commands(redis: Redis) -> set[str]:
    """The group's consumers that have been delivered at least one command. Valkey also lists consumers
    that only tried, with `inactive` -1; Redis 7.0 lists only the others, without that field."""
    consumers: Any = await redis.xinfo_consumers(COMMANDS_STREAM, WORKERS_GROUP)
    return {c["name"].decode() for c in consumers if c.get("inactive") != -1}


async def pending_of(redis: Redis, consumer: str) -> list[bytes]:
    entries: Any = await redis.xpending_range(COMMANDS_STREAM, WORKERS_GROUP, "-", "+", 10_000, consumer)
    return [e["message_id"] for e in entries]


async def kill_while_busy(redis: Redis, victim: Worker, timeout_s: float = 10) -> list[bytes]:
    """SIGKILL the worker at a moment it holds delivered, unacknowledged commands; returns them.

    The worker is frozen (SIGSTOP) to look at its pending list without a race; if it holds nothing at
    that instant it is let go on and tried again a moment later.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        victim.signal(signal.SIGSTOP)
        held = await pending_of(redis, victim.consumer)
        if held:
            victim.signal(signal.SIGKILL)
            await victim.exited(5)
            return held
        victim.signal(signal.SIGCONT)
        await asyncio.sleep(0.003)  # let it work a moment before freezing it again
    raise AssertionError("the worker never held a pending command while the burst ran")


async def test_a_worker_killed_mid_burst_loses_nothing(
    processes: Processes, redis: Redis, storage: AsyncEngine, database_url: str
) -> None:
    await add_packages(database_url, PACKAGE_IDS)
    victim, survivor = await processes.workers(2)
    rng = random.Random(2)
    burst = [random_command(rng, rng.choice(PACKAGE_IDS)) for _ in range(2000)]
    killed = asyncio.Event()

    async def produce() -> None:
        # In chunks, keeping both workers busy until the kill; what is left of the burst comes after it.
        sent = 0
        while sent < len(burst) and not killed.is_set():
            await append_commands(redis, burst[sent : sent + 50])
            sent += 50
            await asyncio.sleep(0.01)  # a pace the workers keep up with
        await killed.wait()
        await append_commands(redis, burst[sent:])

    producer = asyncio.create_task(produce())
    await eventually(lambda: _delivered_at_least(redis, 200), 10, "the workers started on the burst")
    held = await kill_while_busy(redis, victim)
    killed.set()
    await producer

    assert held, "the victim held commands when it died"
    assert victim.popen.returncode == -signal.SIGKILL
    await assert_storage_follows_the_stream(redis, storage)
    assert await redis.xlen(COMMANDS_STREAM) == len(burst)
    assert await pending_of(redis, victim.consumer) == []
    assert survivor.running


async def _delivered_at_least(redis: Redis, count: int) -> bool:
    group = await group_info(redis)
    return group is not None and int(group["entries-read"] or 0) >= count


def changes(seed: int) -> Iterator[tuple[str, int]]:
    """Activations and deactivations of the test's packages, at random."""
    rng = random.Random(seed)
    while True:
        yield rng.choice(CHANGES), rng.choice(PACKAGE_IDS)


async def answered_more_than(answers: list[Answer], count: int) -> bool:
    return len(answers) > count


async def answered_200_after(answers: list[Answer], moment: float) -> bool:
    return any(a.status_code == 200 and a.sent_at > moment for a in answers)


async def status_burst(ingress: Ingress, bodies: dict[int, dict[str, Any]], size: int = 40) -> Counter[int]:
    """The status codes of `size` concurrent status requests: traffic that needs many Redis connections."""
    async with http(ingress) as client:
        package_ids = [PACKAGE_IDS[i % len(PACKAGE_IDS)] for i in range(size)]
        answers = await asyncio.gather(*(client.post(PATHS["status"], json=bodies[i]) for i in package_ids))
    return Counter(answer.status_code for answer in answers)


async def test_a_redis_restart_mid_burst_loses_no_acknowledged_command(
    persistent_processes: Processes,
    persistent_redis: PersistentRedis,
    persistent_client: Redis,
    storage: AsyncEngine,
    database_url: str,
) -> None:
    bodies = await add_packages(database_url, PACKAGE_IDS)
    # Requests caught by the outage answer 202 after 1 s instead of 5.
    ingress = persistent_processes.spawn_ingress(LIVESCORE_COMMAND_TIMEOUT_MS="1000")
    worker = persistent_processes.spawn_worker()
    await persistent_processes.wait_for_ingress(ingress)
    await persistent_processes.wait_for_worker(worker)

    answers: list[Answer] = []
    stop = asyncio.Event()
    senders = [
        asyncio.create_task(keep_sending(ingress, bodies, changes(n), answers, stop, through_restarts=True))
        for n in range(4)
    ]
    try:
        await eventually(lambda: answered_200_after(answers, 0), 10, "the service answers 200")
        # Traffic as wide as in production: the ingress holds many Redis connections when Redis restarts.
        assert await status_burst(ingress, bodies) == {200: 40}
        before = len(answers)
        await eventually(lambda: answered_more_than(answers, before + 20), 10, "requests go on meanwhile")
        # In a thread, so that the requests go on while Redis stops and starts.
        await asyncio.to_thread(persistent_redis.stop)
        # The outage itself: the senders go on sending while Redis stays down this long.
        await asyncio.sleep(1)
        await asyncio.to_thread(persistent_redis.start_again)
        restarted = time.time()
        await eventually(lambda: answered_200_after(answers, restarted), 30, "200 again after the restart")
        back = len(answers)
        await eventually(lambda: answered_more_than(answers, back + 20), 10, "requests go on after it")
    finally:
        stop.set()
        await asyncio.gather(*senders)

    assert ingress.running, "the ingress died"
    assert worker.running, "the worker died"
    redis = persistent_client
    await assert_storage_follows_the_stream(redis, storage)
    stream = [fields for _, fields in await commands_in_stream(redis)]
    accepted = [a for a in answers if a.status_code == 202]
    assert {a.body["commandId"] for a in accepted} <= {f["commandId"] for f in stream}
    acknowledged = Counter((a.kind, a.package_id) for a in answers if a.status_code in (200, 202))
    in_stream = Counter((f["type"], int(f["packageId"])) for f in stream)
    assert not acknowledged - in_stream, "answered 200/202 more often than commands are in the stream"
    assert {a.status_code for a in answers} <= {200, 202, 500}
    # Recovered means every request, not only some: a connection opened before the restart must not fail
    # a request made once Redis is back.
    assert await status_burst(ingress, bodies) == {200: 40}
    expected = await last_commands(redis)
    assert await statuses_over_http(ingress, bodies) == {i: s.value for i, s in expected.items()}


async def test_sigterm_stops_a_worker_promptly_and_cleanly(
    processes: Processes, redis: Redis, storage: AsyncEngine, database_url: str
) -> None:
    await add_packages(database_url, PACKAGE_IDS)
    worker = await processes.worker()
    rng = random.Random(4)
    stop = asyncio.Event()

    async def steady_stream() -> None:
        while not stop.is_set():
            await append_commands(redis, [random_command(rng, rng.choice(PACKAGE_IDS)) for _ in range(10)])
            await asyncio.sleep(0.01)  # a steady pace, not a flood

    producer = asyncio.create_task(steady_stream())
    await eventually(lambda: _delivered_at_least(redis, 300), 10, "the worker is busy")
    asked = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = await worker.exited(10)
    took = time.monotonic() - asked
    held = await pending_of(redis, worker.consumer)
    finished = await _finished(redis, storage, held)
    stop.set()
    await producer

    assert code == 0, f"exit code {code} after {took:.1f} s"
    assert finished == [], "commands applied but left unacknowledged"
    await processes.worker()  # takes over what the stopped worker read but had not applied
    await assert_storage_follows_the_stream(redis, storage)


async def _finished(redis: Redis, storage: AsyncEngine, entry_ids: list[bytes]) -> list[bytes]:
    """Those of the entries whose effect is in storage already (one worker: applied in stream order)."""
    finished = []
    async with storage.connect() as conn:
        for entry_id in entry_ids:
            entries: Any = await redis.xrange(COMMANDS_STREAM, entry_id, entry_id)
            package_id = int(entries[0][1][b"packageId"])
            state = await package_state(conn, package_id)
            if state is not None and state.applied >= StreamId.parse(entry_id):
                finished.append(entry_id)
    return finished


async def test_a_vanished_group_is_recreated(
    processes: Processes, redis: Redis, storage: AsyncEngine, database_url: str
) -> None:
    await add_packages(database_url, PACKAGE_IDS[:1])
    package_id = PACKAGE_IDS[0]
    worker = await processes.worker()
    await append_commands(redis, [ActivatePackage(package_id=package_id).to_fields()])
    await eventually(lambda: _stored_is(storage, package_id, "active"), 10, "the activation applied")

    await redis.delete(COMMANDS_STREAM)
    await eventually(lambda: _group_exists(redis), 20, "the workers' group exists again")
    await append_commands(redis, [DeactivatePackage(package_id=package_id).to_fields()])
    await eventually(lambda: _stored_is(storage, package_id, "inactive"), 10, "the deactivation applied")

    assert worker.running, "the worker exited instead of re-creating the group"
    assert "group vanished" in worker.log()
    await eventually(lambda: drained(redis), DRAIN_TIMEOUT_S, "nothing left pending")


async def _stored_is(storage: AsyncEngine, package_id: int, status: str) -> bool:
    return (await stored_statuses(storage, [package_id])).get(package_id) == status


async def _group_exists(redis: Redis) -> bool:
    return await group_info(redis) is not None
