"""The initial image and recovery (SPEC §12), served by the incident partitions' owners over Redis streams:
a package activated mid-match gets each fixture's scoreboard before any later incident of it, none
missing; a recovery sends the kept incidents since `after`, marked, then the scoreboards, then one
completion with its counts."""

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import StreamId
from domain.fixtures import Fixture
from domain.owner_requests import (
    OwnerRequest,
    Pending,
    RequestKind,
    create_request,
    owners_alive,
    pending_of,
    read_pending,
)
from domain.scoreboard import apply_incident, start, to_message_body
from domain.scoreboard_store import appended_at, stored_boards
from domain.settings import Settings
from domain.streams import INCIDENT_WORKERS, INCIDENTS_STREAM, OWNER_REQUESTS
from tests.fixture_factory import BEGAN, fixture, incident
from tests.support import (
    ACTIVATE,
    BODY,
    LIVE,
    RECOVER,
    add_fixtures,
    add_package,
    eventually,
    hold,
    incidents_queue_messages,
    kept_history,
    publish_incident,
    recovery_done,
)
from worker.app import create_app as create_worker
from worker.owner_requests import held_back

PLAYING = [fixture(n, status=2, last_update=BEGAN) for n in (1, 2, 17)]
# Incidents of each fixture wanted in the queue after its scoreboard before the feed stops: enough to see
# their order, whatever the machine's speed.
LATER_WANTED = 5


async def _feed(redis: Redis, stop: asyncio.Event, sent: list[dict[str, Any]]) -> None:
    """Incidents of the three fixtures, one every few milliseconds, until told to stop."""
    number = 0
    while not stop.is_set():
        number += 1
        body = incident(number, PLAYING[number % 3].fixture_id, values=[{"position": 1, "value": number}])
        await publish_incident(redis, body)
        sent.append(body)
        await asyncio.sleep(0.004)


async def _all_kept(engine: AsyncEngine, sent: list[dict[str, Any]]) -> bool:
    async with engine.connect() as conn:
        boards = await stored_boards(conn)
    last = {body["fixtureId"]: body["id"] for body in sent}
    return {f: b.last_incident_id for f, b in boards.items()} == last


async def _under_way(engine: AsyncEngine) -> bool:
    """Every playing fixture has kept incidents (not `_all_kept`: while the feed runs, the worker is a
    round behind it as often as not)."""
    async with engine.connect() as conn:
        boards = await stored_boards(conn)
    return all(boards.get(f.fixture_id) and boards[f.fixture_id].last_incident_id for f in PLAYING)


async def _incidents_follow(redis: Redis) -> bool:
    """Each playing fixture has more than LATER_WANTED messages in the package's incidents queue."""
    fixture_ids = [m["header"].get("FixtureId") for m in await incidents_queue_messages(redis)]
    return all(fixture_ids.count(playing.fixture_id) > LATER_WANTED for playing in PLAYING)


@pytest.mark.usefixtures("worker")
async def test_a_package_activated_mid_match_gets_each_scoreboard_first_then_every_later_incident(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, PLAYING)
    await add_package(engine, active=False)
    stop, sent = asyncio.Event(), list[dict[str, Any]]()
    feeding = asyncio.create_task(_feed(redis, stop, sent))
    try:
        await eventually(lambda: _under_way(engine), 20, "the match under way")
        response = await client.post(ACTIVATE, json=BODY)
        assert response.status_code == 200, response.text
        assert not await redis.hlen(OWNER_REQUESTS), "answered before the image was out"
        await eventually(lambda: _incidents_follow(redis), 20, "incidents after each scoreboard")
    finally:
        stop.set()
        await feeding
    await eventually(lambda: _all_kept(engine, sent), 20, "every incident kept")
    messages = await incidents_queue_messages(redis)
    for playing in PLAYING:
        mine = [m for m in messages if m["header"].get("FixtureId") == playing.fixture_id]
        first, *later = mine
        assert first["header"]["MessageType"] == 4
        board = first["body"]
        ids = [body["id"] for body in sent if body["fixtureId"] == playing.fixture_id]
        # Every incident after the one the scoreboard shows, in order, none missing, none before it.
        assert [m["body"]["id"] for m in later] == ids[ids.index(board["lastIncidentId"]) + 1 :]
        assert all(m["header"]["MessageType"] == 2 for m in later)
        assert later, "incidents follow the scoreboard"
        assert board == await _folded_up_to(redis, playing, board["lastIncidentId"])


async def test_an_activation_wakes_owners_waiting_on_a_quiet_stream_for_its_image(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis, settings: Settings
) -> None:
    """The owners block in XREAD for up to LIVESCORE_WORKER_POLL_MS when no incident comes; an activation
    must not wait that out (its image is part of its 200): the request itself wakes them."""
    await kept_history(engine)
    await add_package(engine, active=False, sports=[6046])
    # A poll interval far longer than the share of the command's time an activation waits for its image.
    slow = dataclasses.replace(settings, worker_poll_ms=120_000)
    async for _ in hold(create_worker(slow, consumer="test-slow-poll")):
        await eventually(lambda: _owners_blocked(redis), 20, "the owners waiting for incidents")
        response = await client.post(ACTIVATE, json=BODY)
        assert response.status_code == 200, response.text
        assert not await redis.hlen(OWNER_REQUESTS), "answered before the image was out"
        boards = [m for m in await incidents_queue_messages(redis) if m["header"]["MessageType"] == 4]
        assert sorted(m["header"]["FixtureId"] for m in boards) == [1, 18]


async def _owners_blocked(redis: Redis) -> bool:
    """An owner has taken its partitions and waits in XREAD for incidents."""
    clients: Any = await redis.client_list()
    return any(c.get("cmd") == "xread" and "b" in c.get("flags", "") for c in clients)


async def _folded_up_to(redis: Redis, playing: Fixture, last_id: int) -> dict[str, Any]:
    """The scoreboard body the pure fold gives from the fixture's incidents in the stream, up to this one."""
    board = start(playing)
    entries: Any = await redis.xrange(INCIDENTS_STREAM)
    for entry_id, fields in entries:
        body = msgspec.json.decode(fields[b"message"])["body"]
        if body["fixtureId"] == playing.fixture_id:
            board = apply_incident(board, body, appended_at(StreamId.parse(entry_id)))
            if body["id"] == last_id:
                break
    return dict(msgspec.json.decode(msgspec.json.encode(to_message_body(board))))


@pytest.mark.usefixtures("worker")
async def test_a_recovery_sends_the_incidents_since_after_marked_then_the_scoreboards_then_one_completion(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await kept_history(engine)
    await add_package(engine, sports=[6046])
    after = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    response = await client.post(RECOVER, json={**BODY, "after": after})
    request_id = response.json()["requestId"]
    messages = await recovery_done(redis, request_id)
    *sent, last = messages
    assert last["header"]["MessageType"] == 101
    assert last["header"]["RequestId"] == request_id
    assert last["body"] == {"requestId": request_id, "fixtureCount": 2, "incidentCount": 4}
    for fixture_id in (1, 18):
        mine = [m for m in sent if m["header"]["FixtureId"] == fixture_id]
        assert [(m["header"]["MessageType"], m["body"].get("id")) for m in mine] == [
            (2, 100 * fixture_id + 2),
            (2, 100 * fixture_id + 3),
            (4, None),
        ]
        assert all(m["header"]["RequestId"] == request_id for m in mine)
        assert [m["header"].get("Recovered") for m in mine] == [True, True, None]
        assert mine[-1]["body"]["lastIncidentId"] == 100 * fixture_id + 3
    assert {m["header"]["FixtureId"] for m in sent} == {1, 18}
    assert len({m["header"]["MessageId"] for m in messages}) == len(messages)
    assert not await redis.hlen(OWNER_REQUESTS)
    # Done: the next trigger is a new recovery, not this one again.
    again = await client.post(RECOVER, json=BODY)
    assert again.json()["requestId"] != request_id


@pytest.mark.usefixtures("worker")
async def test_a_recovery_without_after_sends_the_scoreboards_and_the_completion_only(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await kept_history(engine)
    await add_package(engine)
    request_id = (await client.post(RECOVER, json=BODY)).json()["requestId"]
    messages = await recovery_done(redis, request_id)
    assert sorted((m["header"]["MessageType"], m["header"].get("FixtureId")) for m in messages[:-1]) == [
        (4, 1),
        (4, 3),
        (4, 18),
    ]
    assert messages[-1]["body"] == {"requestId": request_id, "fixtureCount": 3, "incidentCount": 0}


@pytest.mark.usefixtures("worker")
async def test_pull_answers_the_same_scoreboards_as_the_initial_image(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    """SPEC §12: the same set, the same bodies — the image over the queue, pull over HTTP."""
    await kept_history(engine)
    await add_package(engine, active=False, sports=[6046])
    assert (await client.post(ACTIVATE, json=BODY)).status_code == 200
    image = [m["body"] for m in await incidents_queue_messages(redis) if m["header"]["MessageType"] == 4]
    pulled = (await client.post(LIVE, json=BODY)).json()["fixtures"]
    assert image, "the image holds the subscribed fixtures in progress"
    assert sorted(pulled, key=lambda b: b["fixtureId"]) == sorted(image, key=lambda b: b["fixtureId"])


def test_a_pending_image_holds_back_the_partitions_it_has_not_served() -> None:
    image = Pending(OwnerRequest("a", RequestKind.IMAGE, 7), frozenset(range(1, 16)))
    recovery = Pending(OwnerRequest("b", RequestKind.RECOVERY, 8), frozenset())
    assert held_back([image, recovery]) == {(7, 0)}


def test_the_requests_hash_reads_back_as_requests_with_their_served_partitions() -> None:
    request = OwnerRequest("r1", RequestKind.RECOVERY, 5, 1_700_000_000_000)
    fields = {
        b"r1": msgspec.json.encode(request),
        b"r1:3": b"1",
        b"r1:9": b"1",
        b"r1:n": b"2",
        b"r1:f": b"4",
        b"r1:i": b"11",
    }
    assert pending_of(fields) == [Pending(request, frozenset({3, 9}), 4, 11)]


async def test_a_request_is_created_once_and_read_back_pending(redis: Redis) -> None:
    request = OwnerRequest("img", RequestKind.IMAGE, 9)
    assert await create_request(redis, request)
    assert not await create_request(redis, request)
    assert await read_pending(redis) == [Pending(request, frozenset())]


async def test_owners_are_alive_only_while_some_workers_liveness_has_not_run_out(redis: Redis) -> None:
    assert not await owners_alive(redis)
    seconds, _ = await redis.time()
    now_ms = int(seconds) * 1000
    await redis.zadd(INCIDENT_WORKERS, {"gone": now_ms - 60_000})
    assert not await owners_alive(redis)
    await redis.zadd(INCIDENT_WORKERS, {"reading": now_ms + 60_000})
    assert await owners_alive(redis)
