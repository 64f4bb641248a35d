"""`livescore simulate`: a deterministic, plausible match day, played into the feed's streams."""

import asyncio
import os
import subprocess
import sys
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.demo_fixtures import BASKETBALL, FOOTBALL, ICE_HOCKEY, TENNIS
from cli.main import app
from cli.match_day import Beat, match_day, pick_matches
from domain.fixture_store import fixture_refs
from domain.fixtures import FixtureStatus
from domain.incidents import decode_incident, encode_incident
from domain.messages import MessageType, envelope
from domain.settings import Settings
from domain.streams import FIXTURE_UPDATES_STREAM, INCIDENTS_STREAM
from tests.e2e.processes import PersistentRedis, connect
from tests.support import eventually

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module", params=SEEDS)
def day(request: pytest.FixtureRequest) -> list[Beat]:
    return match_day(pick_matches(16, request.param), request.param)


def test_the_same_seed_plays_the_same_match_day() -> None:
    assert match_day(pick_matches(6, 5), 5) == match_day(pick_matches(6, 5), 5)
    assert match_day(pick_matches(6, 5), 5) != match_day(pick_matches(6, 6), 6)


def test_the_matches_cover_every_sport_in_turn() -> None:
    sports = [f.sport.id for f in pick_matches(8, 1)]
    assert len(set(sports)) == 8
    assert sports[0] == FOOTBALL.ref.id


def test_beats_come_in_time_order_and_every_incident_is_valid_on_the_wire(day: list[Beat]) -> None:
    assert [b.at_s for b in day] == sorted(b.at_s for b in day)
    for beat in day:
        if beat.incident is not None:
            wire = envelope(MessageType.INCIDENT, encode_incident(beat.incident)).body
            assert decode_incident(wire) == beat.incident
            assert beat.incident.fixture_id == beat.fixture_id
    ids = [b.incident.id for b in day if b.incident is not None]
    assert len(ids) == len(set(ids))


def test_each_match_is_about_to_start_then_in_progress_then_finished_and_silent_after(
    day: list[Beat],
) -> None:
    by_fixture: dict[int, list[Beat]] = defaultdict(list)
    for beat in day:
        by_fixture[beat.fixture_id].append(beat)
    for beats in by_fixture.values():
        statuses = [b.status for b in beats if b.status is not None]
        assert statuses == [FixtureStatus.ABOUT_TO_START, FixtureStatus.IN_PROGRESS, FixtureStatus.FINISHED]
        assert beats[0].status == FixtureStatus.ABOUT_TO_START
        assert beats[1].status == FixtureStatus.IN_PROGRESS
        assert beats[-1].status == FixtureStatus.FINISHED, "nothing after the final whistle"
        assert len(beats) > 20


def test_periods_come_in_order_and_scores_only_go_up_within_a_period(day: list[Beat]) -> None:
    for incidents in _incidents_by_fixture(day).values():
        periods = [(i.period.id, i.status) for i in incidents if i.kind == "Period" and i.period]
        count = len(periods) // 2
        assert periods == [(n, s) for n in range(1, count + 1) for s in ("Started", "Finished")]
        scores: dict[int, list[float]] = {}
        for incident in incidents:
            if incident.kind == "Score" and incident.period and incident.values:
                values = [float(v.value) for v in sorted(incident.values, key=lambda v: v.position)]
                before = scores.get(incident.period.id, [0.0, 0.0])
                assert all(new >= old for new, old in zip(values, before, strict=True))
                scores[incident.period.id] = values
        clock = [i.seconds or 0 for i in incidents]
        assert clock == sorted(clock), "the match clock never goes back"


def test_each_sport_plays_its_own_periods() -> None:
    fixtures = pick_matches(8, 1)
    day = _incidents_by_fixture(match_day(fixtures, 1))
    names = {
        f.sport.id: {i.period.name for i in day[f.fixture_id] if i.kind == "Period" and i.period}
        for f in fixtures
    }
    assert names[FOOTBALL.ref.id] == {"1st Half", "2nd Half"}
    assert names[BASKETBALL.ref.id] == {"1st Quarter", "2nd Quarter", "3rd Quarter", "4th Quarter"}
    assert names[ICE_HOCKEY.ref.id] == {"1st Period", "2nd Period", "3rd Period"}
    assert names[TENNIS.ref.id] <= {"1st Set", "2nd Set", "3rd Set"}
    assert {"1st Set", "2nd Set"} <= names[TENNIS.ref.id]


def test_confidence_is_mostly_certain_and_an_unsure_score_is_confirmed_next(day: list[Beat]) -> None:
    incidents = [i for items in _incidents_by_fixture(day).values() for i in items]
    confidences = Counter(i.confidence == 1.0 for i in incidents)
    assert confidences[True] > 10 * confidences[False] > 0
    for items in _incidents_by_fixture(day).values():
        for unsure, following in pairwise(items):
            if unsure.confidence < 1.0:
                assert 0.5 <= unsure.confidence < 1.0
                assert (following.kind, following.values, following.confidence) == (
                    "Score",
                    unsure.values,
                    1.0,
                )


def _incidents_by_fixture(day: list[Beat]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    for beat in day:
        if beat.incident is not None:
            found[beat.fixture_id].append(beat.incident)
    return found


async def test_simulate_stores_the_matches_and_appends_the_day_to_the_feeds_streams(
    settings: Settings, redis: Redis, engine: AsyncEngine
) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["simulate", "--matches", "3", "--speed", "50000", "--seed", "4"],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("full time") == 3
    expected = match_day(pick_matches(3, 4), 4)
    incidents: Any = await redis.xrange(INCIDENTS_STREAM)
    sent = [decode_incident(fields[b"message"]) for _, fields in incidents]
    assert sent == [b.incident for b in expected if b.incident is not None]
    updates: Any = await redis.xrange(FIXTURE_UPDATES_STREAM)
    statuses = [msgspec.json.decode(fields[b"message"])["body"]["status"] for _, fields in updates]
    assert Counter(statuses) == {9: 3, 2: 3, 3: 3}
    async with engine.connect() as conn:
        assert len(await fixture_refs(conn, [f.fixture_id for f in pick_matches(3, 4)])) == 3


# Slow enough that beats fall due while Redis is away (a match lasts ~20 s), quick for a test.
OUTAGE_SPEED = "300"
# Long enough that several appends fail and are tried again.
OUTAGE_S = 2


async def test_simulate_rides_out_a_redis_restart_saying_so_once_each_way(tmp_path: Path) -> None:
    server = PersistentRedis(tmp_path / "valkey")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESCORE_", "REDIS_"))}
    env.update(REDIS_URL=server.url, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/simulate.db")
    simulating = _simulating(tmp_path, env)
    try:
        async with connect(server.url) as redis:
            await eventually(lambda: _length(redis, INCIDENTS_STREAM), what="an incident before the stop")
        server.stop()
        await asyncio.sleep(OUTAGE_S)  # Redis away: the behaviour under test
        server.start_again()
        code = await asyncio.to_thread(simulating.wait, 120)
        async with connect(server.url) as redis:
            updates: Any = await redis.xrange(FIXTURE_UPDATES_STREAM)
    finally:
        simulating.kill()
        server.stop()
    err_lines = (tmp_path / "err").read_text().splitlines()
    assert code == 0, err_lines
    # Which Redis it uses, then one line when Redis is lost and one when it is back: no traceback, no
    # line per failed append.
    assert len(err_lines) == 3, err_lines
    assert err_lines[0] == f"livescore: using REDIS_URL {server.url}"
    assert err_lines[1].startswith("simulate: Redis unreachable (")
    assert err_lines[2].startswith("simulate: Redis back after ")
    # The day went on to its end: the match's full-time update reached Redis after the restart.
    assert msgspec.json.decode(updates[-1][1][b"message"])["body"]["status"] == FixtureStatus.FINISHED
    assert "full time" in (tmp_path / "out").read_text()


def _simulating(folder: Path, env: dict[str, str]) -> "subprocess.Popen[bytes]":
    """`livescore simulate` of one match started against a new database, its output in folder/out and
    folder/err."""
    livescore = [sys.executable, "-m", "cli"]
    subprocess.run([*livescore, "db", "upgrade"], env=env, cwd=folder, check=True, capture_output=True)
    command = [*livescore, "simulate", "--matches", "1", "--speed", OUTAGE_SPEED]
    with (folder / "out").open("w") as out, (folder / "err").open("w") as err:
        return subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=err)


async def _length(redis: Redis, stream: str) -> bool:
    return bool(await redis.xlen(stream))
