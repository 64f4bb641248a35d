"""Pull (SPEC §12): `POST /api/livescore/fixtures/live` answers the stored scoreboards of the package's
subscribed fixtures in progress, active or not, on a real Redis and a real database."""

from typing import Any

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import packages
from domain.commands import StreamId
from domain.fixture_store import store_fixtures
from domain.scoreboard import to_message_body
from domain.scoreboard_store import Delivered, keep_round, live_boards, stored_boards
from domain.settings import DEFAULT_SET_SPORTS
from tests.fixture_factory import ATP, FOOTBALL, PREMIER_LEAGUE, TENNIS, fixture, incident
from tests.support import LIVE, PACKAGE_ID, USERNAME

IN_PLAY, NOT_STARTED, FINISHED = 2, 1, 3


async def _keep(engine: AsyncEngine, incidents: list[tuple[int, dict[str, Any]]]) -> None:
    rounds = [
        Delivered(StreamId(1_900_000_000_000 + n, 0), fixture_id, msgspec.json.encode(body))
        for n, (fixture_id, body) in enumerate(incidents)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(keep_round, rounds, DEFAULT_SET_SPORTS)


async def test_pull_answers_the_boards_of_the_subscribed_fixtures_in_progress_and_no_others(
    client: httpx.AsyncClient, package: dict[str, Any], engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await store_fixtures(
            conn,
            [
                fixture(1, status=IN_PLAY),  # football, in play, with a score: in
                fixture(2, status=NOT_STARTED),  # football, a kick-off incident came: in progress, in
                fixture(3, status=NOT_STARTED),  # football, no incident yet: not in progress
                fixture(4, status=FINISHED),  # football, over: out
                fixture(5, status=IN_PLAY, sport=TENNIS, league=ATP),  # not subscribed: out
                fixture(6, status=IN_PLAY, league=PREMIER_LEAGUE + 1),  # football by sport: in
            ],
        )
        await packages.set_subscriptions(conn, PACKAGE_ID, sports=[FOOTBALL], leagues=[])
    await _keep(engine, [(f, incident(10 + f, f)) for f in (1, 2, 4, 5, 6)])
    answer = await client.post(LIVE, json=package)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["success"], body["packageId"], body["username"]) == (True, PACKAGE_ID, USERNAME)
    assert [board["fixtureId"] for board in body["fixtures"]] == [1, 2, 6]
    async with engine.connect() as conn:
        stored = await stored_boards(conn)
        assert await conn.run_sync(live_boards, [FOOTBALL], []) == [stored[1], stored[2], stored[6]]
    assert body["fixtures"][0] == msgspec.json.decode(msgspec.json.encode(to_message_body(stored[1])))
    assert body["fixtures"][0]["results"] == [{"position": 1, "value": "1"}, {"position": 2, "value": "0"}]


async def test_pull_with_no_subscription_rows_takes_every_fixture_in_progress_and_may_be_empty(
    client: httpx.AsyncClient, package: dict[str, Any], engine: AsyncEngine
) -> None:
    assert (await client.post(LIVE, json=package)).json()["fixtures"] == []
    async with engine.begin() as conn:
        await store_fixtures(conn, [fixture(1, status=IN_PLAY), fixture(5, status=IN_PLAY, sport=TENNIS)])
    await _keep(engine, [(1, incident(11, 1)), (5, incident(15, 5))])
    assert [b["fixtureId"] for b in (await client.post(LIVE, json=package)).json()["fixtures"]] == [1, 5]


async def test_pull_refuses_wrong_credentials_as_status_does(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    wrong = await client.post(LIVE, json={**package, "password": "not it"})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "Invalid package credentials"})
    missing = await client.post(LIVE, json={"packageId": PACKAGE_ID})
    assert missing.status_code == 400
