"""`livescore watch`: a frame drawn from a recorded queue, as text (a snapshot of what the customer sees)."""

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.demo_fixtures import BASEBALL, FOOTBALL
from cli.match_day import match_day, pick_matches
from cli.scoreboard import Scoreboard, _score, render
from cli.watch import _live_state
from delivery.redis_streams import RedisStreamsReader
from domain.commands import StreamId
from domain.delivery import QueueKind
from domain.fixture_store import store_fixtures
from domain.fixtures import FixtureStatus, encode_fixture
from domain.incidents import encode_incident
from domain.messages import MessageType, envelope
from domain.scoreboard import apply_incident, in_progress, start, to_message_body
from domain.scoreboard_store import Delivered, keep_round
from domain.settings import Settings
from domain.streams import fixtures_queue, incidents_queue
from tests.fixture_factory import fixture as factory_fixture
from tests.fixture_factory import incident as factory_incident

NOW = datetime(2030, 5, 1, 15, 50, tzinfo=UTC)
PACKAGE = 7


def _at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(kind: int, seconds_ago: float, body: Any = None, **header: Any) -> str:
    message: dict[str, Any] = {
        "header": {
            "MessageId": f"m-{kind}-{seconds_ago}",
            "Timestamp": _at(seconds_ago),
            "MessageType": kind,
            **header,
        }
    }
    if body is not None:
        message["body"] = body
    return json.dumps(message)


def _fixture(fixture_id: int, status: int, sport: str, home: str, away: str, seconds_ago: float) -> str:
    body = {
        "fixtureId": fixture_id,
        "status": status,
        "startDate": "2030-05-01T15:00:00Z",
        "sport": {"id": 1, "name": sport},
        "league": {"id": 2, "name": "League"},
        "location": {"id": 3, "name": "Place"},
        "participants": [{"id": 10, "name": home, "position": 1}, {"id": 11, "name": away, "position": 2}],
        "lastUpdate": _at(seconds_ago),
    }
    return _message(1, seconds_ago, body)


def _incident(fixture_id: int, seconds_ago: float, kind: str, **body: Any) -> str:
    header = {"FixtureId": fixture_id, "LeagueId": 2, "SportId": 1}
    full = {"id": int(seconds_ago * 10), "fixtureId": fixture_id, "kind": kind, "confidence": 1.0, **body}
    return _message(2, seconds_ago, full, **header)


def _values(home: int, away: int) -> list[dict[str, int]]:
    return [{"position": 1, "value": home}, {"position": 2, "value": away}]


FIRST, SECOND = {"id": 1, "name": "1st Half"}, {"id": 2, "name": "2nd Half"}
SET_1, SET_2 = {"id": 1, "name": "1st Set"}, {"id": 2, "name": "2nd Set"}
# What package 7's two queues held, oldest first: a football match in its second half, a tennis match in
# its second set, a match that ended ten seconds ago, one that ended long ago, the feed's pulse.
FIXTURES_QUEUE = [
    _fixture(1, 2, "Football", "London United", "Leeds FC", 3000),
    _fixture(2, 2, "Tennis", "Carlos Almeida", "Jannik Berg", 3000),
    _fixture(3, 3, "Handball", "THW Kiel", "SG Flensburg", 10),
    _fixture(4, 3, "Ice Hockey", "Boston Blizzard", "Ottawa Frost", 600),
    _message(31, 20, {"ActiveEvents": [1, 2, 5]}),
]
INCIDENTS_QUEUE = [
    _incident(1, 2000, "Score", name="Score", period=FIRST, values=_values(1, 0), seconds=1500),
    _incident(1, 60, "Period", name="2nd Half", period=SECOND, status="Started", seconds=2700),
    _incident(1, 59, "Timer", name="Clock", period=SECOND, status="Started", seconds=2700),
    _incident(
        1,
        30,
        "Score",
        name="Score",
        period=SECOND,
        values=_values(0, 1),
        seconds=3000,
        confidence=0.7,
        playerList=[{"id": 5, "name": "Lucas Weber", "position": 2, "role": "Scorer"}],
    ),
    _incident(2, 400, "Score", name="Game", period=SET_1, values=_values(6, 4), seconds=7000),
    _incident(2, 399, "Period", name="1st Set", period=SET_1, status="Finished", seconds=7000),
    _incident(2, 6, "Score", name="Game", period=SET_2, values=_values(2, 3), seconds=8200),
    _incident(2, 5, "Statistic", name="Aces", period=SET_2, values=_values(3, 5), seconds=8200),
    _incident(3, 15, "Score", name="Score", period=SECOND, values=_values(14, 12), seconds=3600),
    _message(32, 4),
    "not json at all",
]

# The frame as the customer sees it at NOW (a snapshot: regenerate it by hand when the layout changes).
FRAME = Path(__file__).parent / "snapshots" / "watch.txt"


async def _recorded(redis: Redis) -> Scoreboard:
    for queue, messages in (
        (fixtures_queue(PACKAGE), FIXTURES_QUEUE),
        (incidents_queue(PACKAGE), INCIDENTS_QUEUE),
    ):
        for text in messages:
            await redis.xadd(queue, {"message": text})
    board = Scoreboard(PACKAGE, heartbeat_s=10, since=NOW - timedelta(minutes=5))
    reader = RedisStreamsReader(redis, PACKAGE)
    kinds = []
    while read := await reader.read(0.01):
        for kind, message in read:
            kinds.append(kind)
            board.apply(message)
    assert kinds.count(QueueKind.FIXTURES) == len(FIXTURES_QUEUE)
    return board


def _text(board: Scoreboard, now: datetime) -> str:
    """The frame as plain text, without the padding at the ends of lines."""
    console = Console(width=130, record=True, file=io.StringIO(), color_system=None)
    console.print(render(board, now))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


async def test_a_frame_shows_the_matches_in_play_with_score_period_clock_and_last_incident(
    redis: Redis,
) -> None:
    board = await _recorded(redis)
    assert _text(board, NOW) == FRAME.read_text()


async def test_the_frame_warns_when_no_heartbeat_came_for_three_intervals(redis: Redis) -> None:
    board = await _recorded(redis)
    assert "feed quiet: no heartbeat for 44 s (3 intervals of 10 s)" in _text(
        board, NOW + timedelta(seconds=40)
    )
    assert "feed quiet" not in _text(board, NOW + timedelta(seconds=20))


def _wide_text(board: Scoreboard, now: datetime, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render(board, now))
    return [line.rstrip() for line in console.export_text().splitlines()]


LONG_HOME, LONG_AWAY = "Borussia Mönchengladbach Amateure", "Sporting Clube de Braga Juniores B"
LONG_INCIDENT = "Shots on target 12–9"


def _long_named_board() -> Scoreboard:
    board = Scoreboard(PACKAGE, heartbeat_s=10, since=NOW)
    board.apply(_fixture(1, 2, "American Football", LONG_HOME, LONG_AWAY, 60).encode())
    board.apply(_incident(1, 30, "Statistic", name="Shots on target", values=_values(12, 9)).encode())
    return board


def test_a_wide_terminal_shows_long_names_whole() -> None:
    [row] = [line for line in _wide_text(_long_named_board(), NOW, 200) if LONG_HOME in line]
    assert f"{LONG_HOME} – {LONG_AWAY}" in row
    assert "American Football" in row
    assert LONG_INCIDENT in row


def test_a_narrow_terminal_cuts_the_names_and_keeps_the_figures() -> None:
    [row] = [line for line in _wide_text(_long_named_board(), NOW, 90) if "Borussia" in line]
    assert "…" in row
    assert "0–0" in row
    assert "1.00" in row


def test_the_footer_counts_the_matches_on_the_board_apart_from_the_keep_alive_s_fixtures() -> None:
    board = _long_named_board()
    board.apply(_message(31, 5, {"ActiveEvents": list(range(1, 94))}).encode())
    footer = _wide_text(board, NOW, 200)[-1]
    assert "1 match on the board" in footer
    assert "keep-alive: 93 fixtures live or about to start" in footer


def test_baseball_shows_no_match_clock_where_football_does() -> None:
    fixtures = [f for f in pick_matches(8, 1) if f.sport.id in (BASEBALL.ref.id, FOOTBALL.ref.id)]
    board = Scoreboard(PACKAGE, heartbeat_s=0, since=NOW)
    for fixture in fixtures:
        live = msgspec.structs.replace(fixture, status=FixtureStatus.IN_PROGRESS)
        board.apply(envelope(MessageType.FIXTURE, encode_fixture(live)).body)
    for fixture in fixtures:
        incidents = [b.incident for b in match_day([fixture], 1) if b.incident is not None]
        for incident in incidents[: len(incidents) // 2]:  # the match half played
            board.apply(envelope(MessageType.INCIDENT, encode_incident(incident)).body)
    clocks = {}
    for fixture in fixtures:
        home = next(p.name for p in fixture.participants if p.position == 1)
        [row] = [line for line in _wide_text(board, datetime.now(UTC), 200) if home in line]
        clocks[fixture.sport.id] = re.search(r" \d+:\d\d ", row) is not None
    assert clocks == {BASEBALL.ref.id: False, FOOTBALL.ref.id: True}


def test_a_late_joiner_sees_names_and_the_true_score_from_the_scoreboard_message() -> None:
    """SPEC §12: a watch that starts halfway through a match day, from each match's scoreboard (as the
    workers keep it in storage), draws the same names, scores and periods as one that saw every message."""
    fixtures = [msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS) for f in pick_matches(8, 5)]
    beats = [b for b in match_day(fixtures, 5) if b.incident is not None]
    halfway = len(beats) // 2
    from_start = Scoreboard(PACKAGE, heartbeat_s=0, since=NOW)
    late = Scoreboard(PACKAGE, heartbeat_s=0, since=NOW)
    boards = {f.fixture_id: start(f) for f in fixtures}
    for fixture in fixtures:
        from_start.apply(envelope(MessageType.FIXTURE, encode_fixture(fixture)).body)
    for n, beat in enumerate(beats):
        assert beat.incident is not None
        body = encode_incident(beat.incident)
        appended = NOW + timedelta(seconds=n)
        boards[beat.fixture_id] = apply_incident(boards[beat.fixture_id], msgspec.json.decode(body), appended)
        message = envelope(MessageType.INCIDENT, body).body
        from_start.apply(message)
        if n == halfway:  # the late joiner's first frame: the scoreboards, then what follows
            for board in boards.values():
                if in_progress(board):
                    late.apply(
                        envelope(MessageType.SCOREBOARD, msgspec.json.encode(to_message_body(board))).body
                    )
        elif n > halfway:
            late.apply(message)
    seen = {f: (m.home, m.away, m.sport, _score(m), m.period) for f, m in from_start.matches.items()}
    assert {f: (m.home, m.away, m.sport, _score(m), m.period) for f, m in late.matches.items()} == seen
    assert all(home and away for home, away, *_ in seen.values())


async def test_watch_over_redis_starts_from_the_live_state_in_storage(
    settings: Settings, engine: AsyncEngine, package: dict[str, Any]
) -> None:
    async with engine.begin() as conn:
        await store_fixtures(conn, [factory_fixture(1, status=2), factory_fixture(2, status=3)])
        incidents = [
            Delivered(StreamId(1_900_000_000_000 + n, 0), f, msgspec.json.encode(factory_incident(10 + n, f)))
            for n, f in enumerate((1, 2))
        ]
        await conn.run_sync(keep_round, incidents, ())
    seed = await _live_state(settings, package["packageId"])
    board = Scoreboard(package["packageId"], heartbeat_s=0, since=NOW)
    for message in seed:
        board.apply(message)
    assert [msgspec.json.decode(m)["header"]["MessageType"] for m in seed] == [4]
    assert (board.matches[1].home, board.matches[1].away) == ("Home FC", "Away United")
    assert _score(board.matches[1]) == _score(_scored(1, 0))


def _scored(home: int, away: int) -> Any:
    """A match whose first half stands at home–away, as the board draws its score."""
    board = Scoreboard(PACKAGE, heartbeat_s=0, since=NOW)
    board.apply(_incident(1, 1, "Score", name="Score", period=FIRST, values=_values(home, away)).encode())
    return board.matches[1]


def test_a_five_set_match_shows_every_set_at_full_time() -> None:
    """A volleyball match that went the distance: the frame once cut its score after 18 characters."""
    board = Scoreboard(PACKAGE, heartbeat_s=0, since=NOW)
    board.apply(_fixture(9, 2, "Volleyball", "Projekt Jastrzębie", "KS Częstochowa", 900).encode())
    for number, (home, away) in enumerate([(27, 25), (9, 25), (25, 19), (21, 25), (15, 13)], start=1):
        period = {"id": number, "name": ("1st", "2nd", "3rd", "4th", "5th")[number - 1] + " Set"}
        board.apply(
            _incident(
                9, 800 - number, "Score", name="Point", period=period, values=_values(home, away)
            ).encode()
        )
        board.apply(
            _incident(9, 700 - number, "Period", name="Set", period=period, status="Finished").encode()
        )
    board.apply(_fixture(9, 3, "Volleyball", "Projekt Jastrzębie", "KS Częstochowa", 10).encode())
    [row] = [line for line in _wide_text(board, NOW, 130) if "Projekt" in line]
    assert "3–2 (27-25 9-25 25-19 21-25 15-13)" in row
    assert " FT " in row
