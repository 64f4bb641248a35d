"""The console's live panel (SPEC §13): `/console/live` streams the package's live boards from storage as
Server-Sent Events, and the feed sign; the decisions (what changed, quiet or live) as pure functions."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.settings import Settings
from ingress.console_live import POLL_S, LiveFeed, changes, feed_sign
from tests.fixture_factory import fixture, incident
from tests.support import add_fixtures, console_sign_in, keep_incident, serving, worker_resources
from worker.beats import Beats

IN_PLAY = 2
INTERVAL = 10_000  # a heartbeat interval, ms


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, data) of a Server-Sent Events stream, as EventSource reads it."""
    name, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield name, json.loads("\n".join(data))
            name, data = "message", []


async def next_board(stream: AsyncIterator[tuple[str, Any]]) -> Any:
    async for name, data in stream:
        if name == "board":
            return data
    raise AssertionError("the stream ended")


@pytest.mark.usefixtures("package")
async def test_the_live_stream_sends_each_board_then_its_changes(
    app: Litestar, browser: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_fixtures(engine, [fixture(1, status=IN_PLAY)])
    await keep_incident(engine, 1, incident(11, 1))
    token = (await console_sign_in(browser)).cookies["livescore_console"]
    async with serving(cast(Any, app)) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        headers = {"cookie": f"livescore_console={token}"}
        async with http.stream("GET", "/console/live", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response)
            first = await asyncio.wait_for(next_board(stream), 5)
            assert (first["fixtureId"], first["results"]) == (
                1,
                [{"position": 1, "value": "1"}, {"position": 2, "value": "0"}],
            )
            assert first["fixture"]["participants"][0]["name"]
            await keep_incident(
                engine, 2, incident(12, 1, values=[{"position": 1, "value": 2}, {"position": 2, "value": 0}])
            )
            changed = await asyncio.wait_for(next_board(stream), 2)
            assert (changed["results"][0]["value"], changed["lastIncidentId"]) == ("2", 12)
            last = changed["lastIncident"]
            assert (last["id"], last["kind"], last["name"], last["period"]) == (
                12,
                "Score",
                "Goal",
                "1st Half",
            )


@pytest.mark.usefixtures("package")
async def test_the_live_stream_says_an_inactive_package_is_inactive_and_refuses_a_foreign_cookie(
    app: Litestar, browser: httpx.AsyncClient
) -> None:
    token = (await console_sign_in(browser)).cookies["livescore_console"]
    async with serving(cast(Any, app)) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        async with http.stream(
            "GET", "/console/live", headers={"cookie": f"livescore_console={token}"}
        ) as response:
            async for name, data in events(response):
                assert (name, data) == ("feed", {"state": "inactive"})
                break
        refused = await http.get("/console/live", headers={"cookie": "livescore_console=guessed"})
        assert refused.status_code == 401


async def test_the_heartbeat_round_is_stamped_for_the_feed_sign(
    redis: Redis, settings: Settings, engine: AsyncEngine
) -> None:
    res = worker_resources(replace(settings, heartbeat_s=0.2), engine, redis)
    beats = Beats(res)
    await beats.start()
    try:
        for _ in range(40):
            if await redis.get("livescore:last-round:heartbeat"):
                break
            await asyncio.sleep(0.05)
    finally:
        await beats.stop()
    stamp = int(await redis.get("livescore:last-round:heartbeat") or 0)
    seconds, micros = await redis.time()
    assert 0 <= seconds * 1000 + micros // 1000 - stamp < 2000


def test_changes_are_the_new_and_changed_boards_then_the_gone_ones() -> None:
    a, b, b2, c = {"fixtureId": 1}, {"fixtureId": 2, "x": 1}, {"fixtureId": 2, "x": 2}, {"fixtureId": 3}
    assert changes({}, {1: a, 2: b}) == [("board", a), ("board", b)]
    assert changes({1: a, 2: b}, {1: a, 2: b}) == []
    assert changes({1: a, 2: b}, {2: b2, 3: c}) == [("board", b2), ("board", c), ("gone", {"fixtureId": 1})]


@pytest.mark.parametrize(
    ("status", "round_ms", "incident_ms", "sign"),
    [
        ("inactive", 100 * INTERVAL, 100 * INTERVAL, "inactive"),
        (None, None, None, "inactive"),
        ("active", 100 * INTERVAL, None, "live"),  # the round of this interval went out
        ("active", 98 * INTERVAL, None, "live"),  # one round late: not yet two intervals
        ("active", 97 * INTERVAL - 1, None, "quiet"),  # two rounds missed
        ("active", None, None, "quiet"),  # no round ever (heartbeats off) and no incident
        ("active", None, 99 * INTERVAL, "live"),  # heartbeats off, incidents flowing
        ("active", 90 * INTERVAL, 98 * INTERVAL - 1, "quiet"),
    ],
)
def test_the_feed_is_quiet_after_two_intervals_without_a_heartbeat_round_or_an_incident(
    status: str | None, round_ms: int | None, incident_ms: int | None, sign: str
) -> None:
    assert feed_sign(status, round_ms, incident_ms, 100 * INTERVAL + 1, INTERVAL) == sign


async def test_streams_of_one_package_share_one_poller_and_a_late_one_gets_the_boards_at_once(
    redis: Redis,
) -> None:
    reads: list[int] = []

    async def read(package_id: int) -> list[dict[str, Any]]:
        reads.append(package_id)
        return [{"fixtureId": 1, "lastIncidentId": None, "updated": "2026-12-07T09:00:00Z"}]

    async def no_incident(_: int) -> dict[str, Any] | None:
        return None

    feed = LiveFeed(read, no_incident, redis, heartbeat_s=10)
    async with feed.listen(7) as first:
        assert (await asyncio.wait_for(first.get(), 2)) == ("feed", {"state": "inactive"})
        first_board = await asyncio.wait_for(first.get(), 2)
        assert first_board is not None
        assert first_board[0] == "board"
        async with feed.listen(7) as second:
            assert (await asyncio.wait_for(second.get(), 2)) == ("feed", {"state": "inactive"})
            event = await asyncio.wait_for(second.get(), 2)
            assert event is not None
            assert (event[0], event[1]["fixtureId"], event[1]["lastIncident"]) == ("board", 1, None)
            reads.clear()
            await asyncio.sleep(5 * POLL_S)
    assert 4 <= len(reads) <= 6  # one read per interval, not one per stream
    await feed.close()
