"""Broker fan-out (issue 22, SPEC §9): an incident, a fixture update or a heartbeat is published once to the
service's exchange, and RabbitMQ copies it into each bound queue. What must hold, on a real node: the
subscriptions decide exactly what each package gets, once; the bindings follow activation, deactivation,
the command line's writes and a worker's start; a full queue deactivates its package only; and after a
deactivation's 200 nothing more arrives, however steady the flow."""

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.fixture_store import store_fixtures
from domain.settings import Settings
from domain.streams import AMQP_EXCHANGE, amqp_queue
from ingress.app import create_app
from tests.fixture_factory import FOOTBALL, PREMIER_LEAGUE, fixture, incident
from tests.support import Cli, add_package, asgi_client, eventually, hold, publish_incident, publish_update
from tests.support_amqp import FIXTURES, INCIDENTS
from worker.app import create_app as create_worker

pytestmark = pytest.mark.usefixtures("broker_auth")

BASKETBALL, EUROLEAGUE, NBA = 48242, 2002, 2003
# Packages of this module only (the node's queues outlive a test).
EVERYTHING, FOOTBALL_ONLY, EUROLEAGUE_ONLY, BOTH = 770_001, 770_002, 770_003, 770_004
API = "/api/livescore"
LATER = datetime(2030, 4, 2, tzinfo=UTC)
# Incidents the staying package receives after another's deactivation, before its queue is compared.
GROWN = 200


@pytest.fixture
def delivering(amqp_settings: Settings) -> Settings:
    return dataclasses.replace(amqp_settings, delivery="amqp", keepalive_s=0, heartbeat_s=0)


@contextlib.asynccontextmanager
async def own_channel(settings: Settings, vhost: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    async with await aio_pika.connect(settings.amqp_url.rstrip("/") + "/" + vhost) as connection:
        yield await connection.channel()


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, consumer: str, activate: Iterable[dict[str, Any]] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    """The ingress and one worker over the node, these packages activated through the API."""
    app = create_app(settings)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            async for _ in hold(create_worker(settings, consumer=consumer)):
                for body in activate:
                    assert (await client.post(f"{API}/package/activate", json=body)).status_code == 200
                yield client


async def taken(settings: Settings, vhost: str, package_id: int) -> list[dict[str, Any]]:
    """Every message of the package's queue, taken."""
    async with own_channel(settings, vhost) as channel:
        queue = await channel.declare_queue(amqp_queue(package_id), passive=True)
        found = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(json.loads(message.body))
        return found


async def length(settings: Settings, vhost: str, package_id: int) -> int:
    async with own_channel(settings, vhost) as channel:
        declared = await channel.declare_queue(amqp_queue(package_id), passive=True)
        return int(declared.declaration_result.message_count or 0)


async def delete_queues(settings: Settings, package_ids: list[int]) -> None:
    for vhost in (FIXTURES, INCIDENTS):
        async with own_channel(settings, vhost) as channel:
            for package_id in package_ids:
                await channel.queue_delete(amqp_queue(package_id))


async def bound_keys(settings: Settings, package_id: int) -> dict[str, set[str]]:
    """The keys the package's queues are bound to the service's exchange with, as the broker lists them."""
    found: dict[str, set[str]] = {}
    async with httpx.AsyncClient(base_url=settings.amqp_management_url) as api:
        for vhost in (FIXTURES, INCIDENTS):
            path = f"/api/queues/{quote(vhost, safe='')}/{amqp_queue(package_id)}/bindings"
            answer = await api.get(path)
            listed = answer.json() if answer.status_code == 200 else []
            found[vhost] = {b["routing_key"] for b in listed if b["source"] == AMQP_EXCHANGE}
    return found


def incident_keys(*keys: str) -> set[str]:
    return {"heartbeat"} | {f"p{p}.{key}" for p in range(16) for key in keys}


async def test_subscriptions_decide_exactly_what_each_package_gets_once_in_order(
    delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Everything; a sport; a league; a sport and a league that overlap (one copy, not two)."""
    subscribed = {
        EVERYTHING: {},
        FOOTBALL_ONLY: {"sports": [FOOTBALL]},
        EUROLEAGUE_ONLY: {"leagues": [EUROLEAGUE]},
        BOTH: {"sports": [FOOTBALL], "leagues": [EUROLEAGUE]},
    }
    bodies = {p: await add_package(engine, p, active=False, **s) for p, s in subscribed.items()}
    football = fixture(1, status=2)
    euroleague = fixture(2, status=2, sport=BASKETBALL, league=EUROLEAGUE)
    nba = fixture(3, status=2, sport=BASKETBALL, league=NBA)
    async with engine.begin() as conn:
        await store_fixtures(conn, [football, euroleague, nba])
    try:
        async with serving(delivering, "fanout-subscriptions", bodies.values()):
            for i in range(1, 13):
                await publish_incident(redis, incident(i, 1 + i % 3))
            await publish_update(redis, msgspec.structs.replace(euroleague, status=3, last_update=LATER))

            async def all_arrived() -> bool:
                return await length(delivering, INCIDENTS, EVERYTHING) == 12

            await eventually(all_arrived, 30)
            await asyncio.sleep(0.5)  # anything extra would have come by now
            incidents = {p: await taken(delivering, INCIDENTS, p) for p in subscribed}
            updates = {p: await taken(delivering, FIXTURES, p) for p in subscribed}
    finally:
        await delete_queues(delivering, list(subscribed))

    def ids(messages: list[dict[str, Any]]) -> list[int]:
        return [m["body"]["id"] for m in messages]

    assert ids(incidents[EVERYTHING]) == list(range(1, 13))
    assert ids(incidents[FOOTBALL_ONLY]) == [3, 6, 9, 12]  # fixture 1
    assert ids(incidents[EUROLEAGUE_ONLY]) == [1, 4, 7, 10]  # fixture 2
    assert ids(incidents[BOTH]) == [1, 3, 4, 6, 7, 9, 10, 12]
    fixture_ids = {p: [m["body"]["fixtureId"] for m in got] for p, got in updates.items()}
    assert fixture_ids == {EVERYTHING: [2], FOOTBALL_ONLY: [], EUROLEAGUE_ONLY: [2], BOTH: [2]}


async def test_bindings_follow_the_command_line_and_a_workers_start(
    delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """SPEC §2.5 and §9: `package add --active`, `set-subscriptions` and `remove` change storage outside
    the commands stream, and the bindings follow at once; a package active in storage with no bindings
    (a restored database) gets them when a worker starts."""
    cli = Cli(delivering)
    package, restored = 770_011, 770_012
    try:
        await cli.output(
            "package", "add", "--id", str(package), "--username", "fanout-cli", "--password", "pw",
            "--active", "--sport", str(FOOTBALL),
        )  # fmt: skip
        added = await bound_keys(delivering, package)
        await cli.output("package", "set-subscriptions", "--id", str(package), "--league", str(NBA))
        resubscribed = await bound_keys(delivering, package)
        await cli.output("package", "remove", "--id", str(package), "--yes")
        removed = await bound_keys(delivering, package)
        await add_package(engine, restored, active=True, leagues=[PREMIER_LEAGUE])
        async for _ in hold(create_worker(delivering, consumer="fanout-start")):
            started = await bound_keys(delivering, restored)
    finally:
        await delete_queues(delivering, [package, restored])
    assert added == {FIXTURES: {f"*.{FOOTBALL}.*"}, INCIDENTS: incident_keys(f"{FOOTBALL}.*")}
    assert resubscribed == {FIXTURES: {f"*.*.{NBA}"}, INCIDENTS: incident_keys(f"*.{NBA}")}
    assert removed == {FIXTURES: set(), INCIDENTS: set()}
    assert started == {FIXTURES: {f"*.*.{PREMIER_LEAGUE}"}, INCIDENTS: incident_keys(f"*.{PREMIER_LEAGUE}")}


async def test_a_full_queue_deactivates_only_its_package_and_the_others_get_each_incident_once(
    delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """RabbitMQ refuses the publish when any bound queue is full, without saying which: the queue at its
    limit is found, its package deactivated with the reason; the other queue took every message, once."""
    limited = dataclasses.replace(delivering, queue_limit=5)
    reading, filling = 770_021, 770_022
    bodies = {p: await add_package(engine, p, active=False) for p in (reading, filling)}
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(1, status=2)])
    got: list[dict[str, Any]] = []
    try:
        async with serving(limited, "fanout-full", bodies.values()) as client:
            for i in range(1, 21):
                await publish_incident(redis, incident(i, 1))
                got += await taken(limited, INCIDENTS, reading)  # the reader keeps up

            async def everything_read(got: list[dict[str, Any]] = got) -> bool:
                got.extend(await taken(limited, INCIDENTS, reading))
                return len(got) >= 20

            await eventually(everything_read, 30)
            await asyncio.sleep(0.5)
            got += await taken(limited, INCIDENTS, reading)
            states = {
                p: (await client.post(f"{API}/package/status", json=b)).json() for p, b in bodies.items()
            }
            full = await taken(limited, INCIDENTS, filling)
    finally:
        await delete_queues(limited, [reading, filling])
    assert [m["body"]["id"] for m in got] == list(range(1, 21))
    assert (states[filling]["status"], states[filling]["reason"]) == ("inactive", "queue-limit")
    assert states[reading]["status"] == "active"
    assert [m["body"]["id"] for m in full] == [1, 2, 3, 4, 5]


async def test_nothing_broadcast_arrives_after_a_deactivations_200_while_incidents_flow(
    delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """Unbound before the answer, and the fence waits for what was routed before: at the 200 the queue
    holds what it will ever hold, while the other package goes on getting the flow."""
    leaving, staying = 770_031, 770_032
    bodies = {p: await add_package(engine, p, active=False) for p in (leaving, staying)}
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(f, status=2) for f in range(1, 17)])
    flowing, stop = asyncio.Event(), asyncio.Event()

    async def flow() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            await publish_incident(redis, incident(number, 1 + number % 16))
            if number == 200:
                flowing.set()
            await asyncio.sleep(0.002)

    try:
        async with serving(delivering, "fanout-fence", bodies.values()) as client:
            feeding = asyncio.create_task(flow())
            await flowing.wait()
            answer = await client.post(f"{API}/package/deactivate", json=bodies[leaving])
            at_200 = await length(delivering, INCIDENTS, leaving)
            staying_then = await length(delivering, INCIDENTS, staying)

            # The flow goes on until the staying package has many incidents published after the 200,
            # each routed by the same exchange that would have copied it to the leaving one as well.
            async def staying_grew() -> bool:
                return await length(delivering, INCIDENTS, staying) >= staying_then + GROWN

            await eventually(staying_grew, 30, f"{GROWN} incidents more for the staying package")
            later = await length(delivering, INCIDENTS, leaving)
            staying_later = await length(delivering, INCIDENTS, staying)
            # Told to stop, not cancelled: redis-py may swallow a cancellation that lands mid-command.
            stop.set()
            await feeding
            keys = await bound_keys(delivering, leaving)
    finally:
        await delete_queues(delivering, [leaving, staying])
    assert answer.status_code == 200
    assert at_200 > 0
    assert later == at_200
    assert staying_later > staying_then
    assert keys == {FIXTURES: set(), INCIDENTS: set()}


async def test_activated_mid_match_over_amqp_each_fixtures_scoreboard_comes_first_then_every_later_incident(
    delivering: Settings, engine: AsyncEngine, redis: Redis
) -> None:
    """SPEC §12 over the exchange: each partition's owner publishes the package's scoreboards, then binds
    the partition's keys, so no incident of a fixture reaches the queue before its scoreboard, and none
    after it is missing."""
    package = 770_041
    body = await add_package(engine, package, active=False)
    playing = [fixture(n, status=2) for n in (1, 2, 17)]
    async with engine.begin() as conn:
        await store_fixtures(conn, playing)
    sent: list[int] = []
    stop = asyncio.Event()

    async def feed() -> None:
        while not stop.is_set():
            number = len(sent) + 1
            await publish_incident(redis, incident(number, playing[number % 3].fixture_id))
            sent.append(number)
            await asyncio.sleep(0.004)

    try:
        async with serving(delivering, "fanout-image") as client:
            feeding = asyncio.create_task(feed())
            await eventually(lambda: _at_least(sent, 150), 20, "the matches under way")
            answer = await client.post(f"{API}/package/activate", json=body)
            wanted = len(sent) + 150
            await eventually(lambda: _at_least(sent, wanted), 20, "more incidents after it")
            stop.set()
            await feeding
            got: list[dict[str, Any]] = []

            async def last_arrived() -> bool:
                got.extend(await taken(delivering, INCIDENTS, package))
                return any(m["body"].get("id") == sent[-1] for m in got)

            await eventually(last_arrived, 20, "the last incident in the queue")
    finally:
        await delete_queues(delivering, [package])
    assert answer.status_code == 200
    for match in playing:
        mine = [m for m in got if m["header"].get("FixtureId") == match.fixture_id]
        first, *later = mine
        assert first["header"]["MessageType"] == 4
        ids = [n for n in sent if playing[n % 3].fixture_id == match.fixture_id]
        shown = first["body"]["lastIncidentId"]
        assert [m["body"]["id"] for m in later] == ids[ids.index(shown) + 1 :]


async def _at_least(sent: list[int], count: int) -> bool:
    return len(sent) >= count
