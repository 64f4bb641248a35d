"""The live scoreboard of `livescore watch`: a package's messages folded into a state, and the state drawn.

`Scoreboard.apply` takes messages exactly as the queues carry them (SPEC §4, §10, §12); `render` is a
pure function of the state and the time, so a frame can be snapshot-tested. This is also the reference
consumer (docs/DEVELOPING.md): fixtures (1) name the matches, incidents (2) carry the score per period,
the clock and what just happened, scoreboards (4) carry a match's whole state at once, keep-alives (31)
list the live fixtures, heartbeats (32) say the feed is alive."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

# A finished match stays on the board this long after its final whistle.
FINISHED_KEPT = timedelta(seconds=60)
# The feed counts as quiet after this many heartbeat intervals without one (SPEC §10).
QUIET_INTERVALS = 3
IN_PROGRESS, FINISHED = 2, 3


@dataclass
class Match:
    fixture_id: int
    sport: str = ""
    home: str = ""
    away: str = ""
    status: int | None = None
    finished_at: datetime | None = None
    # Period id → its name and its score per position (the latest `Score` of that period).
    periods: dict[int, tuple[str, list[float]]] = field(default_factory=dict)
    # Periods over (their `Period` incident said Finished): the sets that count as won.
    over: set[int] = field(default_factory=set)
    period: str | None = None
    clock_s: int | None = None
    clock_at: datetime | None = None
    clock_running: bool = False
    # Only sports played on the clock report one (`Timer`); tennis and volleyball show none.
    timed: bool = False
    last: str = ""
    confidence: float | None = None

    @property
    def in_sets(self) -> bool:
        """Tennis and volleyball count sets won, not points summed over the periods."""
        return any(name.endswith("Set") for name, _ in self.periods.values())


@dataclass
class Scoreboard:
    package_id: int
    # The heartbeat interval the service was set up with (LIVESCORE_HEARTBEAT_S); 0 = none expected.
    heartbeat_s: float
    since: datetime
    matches: dict[int, Match] = field(default_factory=dict)
    last_heartbeat: datetime | None = None
    active_events: list[int] | None = None
    messages: int = 0

    def apply(self, message: bytes) -> None:
        """One message of either queue; anything that is not a message of the SPEC is skipped."""
        try:
            data: Any = msgspec.json.decode(message)
            header, body = data["header"], data.get("body")
            kind, at = header["MessageType"], datetime.fromisoformat(header["Timestamp"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return
        self.messages += 1
        if kind == 1:
            self._fixture(body, at)
        elif kind == 2:
            self._incident(header, body, at)
        elif kind == 4:
            self._board(body)
        elif kind == 31:
            self.active_events = list(body.get("ActiveEvents", []))
        elif kind == 32:
            self.last_heartbeat = at

    def _match(self, fixture_id: int) -> Match:
        return self.matches.setdefault(fixture_id, Match(fixture_id))

    def _fixture(self, body: dict[str, Any], at: datetime) -> None:
        match = self._match(body["fixtureId"])
        match.sport, match.status = body["sport"]["name"], body["status"]
        teams = {p["position"]: p["name"] for p in body.get("participants", [])}
        match.home, match.away = teams.get(1, ""), teams.get(2, "")
        if match.status == FINISHED and match.finished_at is None:
            match.finished_at = at

    def _board(self, body: dict[str, Any]) -> None:
        """A fixture's whole live state (SPEC §12): names, status, every period's score, the period and
        the clock as of its last incident — what a late joiner draws from its first frame on."""
        at = datetime.fromisoformat(body["updated"])
        self._fixture({**body["fixture"], "fixtureId": body["fixtureId"], "status": body["status"]}, at)
        match = self._match(body["fixtureId"])
        periods = body.get("periods") or []
        match.periods = {p["id"]: (p["name"], _pair(p["results"])) for p in periods if p.get("results")}
        match.over = {p["id"] for p in periods if p.get("finished")}
        match.period = (body.get("period") or {}).get("name") or match.period
        if body.get("seconds") is not None:
            match.clock_s, match.clock_at = body["seconds"], at

    def _incident(self, header: dict[str, Any], body: dict[str, Any], at: datetime) -> None:
        match = self._match(body["fixtureId"])
        match.sport = match.sport or f"sport {header.get('SportId', '?')}"
        period = body.get("period") or {}
        if period:
            match.period = period["name"]
        if body["kind"] == "Score" and period and body.get("values"):
            match.periods[period["id"]] = (period["name"], _pair(body["values"]))
        if body["kind"] == "Period" and period and body.get("status") == "Finished":
            match.over.add(period["id"])
        if body.get("seconds") is not None:
            match.clock_s, match.clock_at = body["seconds"], at
        if body["kind"] == "Timer":
            match.timed, match.clock_running = True, body.get("status") in ("Started", "Running")
        match.last, match.confidence = describe(body), body["confidence"]


def _pair(values: list[dict[str, Any]]) -> list[float]:
    by_position = {v["position"]: v["value"] for v in values}
    return [_number(by_position.get(1, 0)), _number(by_position.get(2, 0))]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def describe(body: dict[str, Any]) -> str:
    """An incident in a few words: "Score 2–1 (Lucas Weber)", "Corners 5–3", "2nd Half Started"."""
    kind, name, status = body["kind"], body.get("name") or "", body.get("status") or ""
    values = body.get("values")
    players = {p.get("role"): p.get("name") for p in body.get("playerList") or []}
    if kind == "PlayerStatistic" and "In" in players:
        return f"{name}: {players['In']} for {players.get('Out')}"
    if kind == "Possession" and values:
        home, away = _pair(values)
        return f"{name} {home:g}–{away:g}"
    text = " ".join(
        part for part in (kind if kind not in ("Score", "Statistic") else "", name, status) if part
    )
    if values:
        home, away = _pair(values)
        text += f" {home:g}–{away:g}"
    if "Scorer" in players:
        text += f" ({players['Scorer']})"
    return text.strip()


def render(board: Scoreboard, now: datetime) -> RenderableType:
    """One frame: the matches in play (and those just finished), then the feed's pulse."""
    table = Table(
        title=f"package {board.package_id}: live",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
        expand=True,
    )
    # As wide as the terminal: the figures take what they need, the sport, the names and the last incident
    # share the rest (so a wide terminal shows them whole, and a narrow one cuts them first).
    for column, least, widest, share in _COLUMNS:
        right = column in ("clock", "conf")
        table.add_column(
            column,
            no_wrap=True,
            min_width=least,
            max_width=widest,
            ratio=share,
            overflow="ellipsis",
            justify="right" if right else "left",
        )
    shown = [m for m in sorted(board.matches.values(), key=lambda m: m.fixture_id) if _shown(m, now)]
    for match in shown:
        table.add_row(*_row(match, now))
    if not shown:
        table.add_row("", Text("no match in play", style="dim"), "", "", "", "", "")
    return Group(table, _pulse(board, now, len(shown)))


# Each column, the least and the most it takes, or its share of the room the figures leave. The score
# takes up to a five-set volleyball match's ("3–2 (27-25 9-25 25-19 21-25 15-13)"): cut shorter, its
# last sets were lost from the frame.
SCORE_WIDEST = 36
_COLUMNS: tuple[tuple[str, int, int | None, int | None], ...] = (
    ("sport", 4, None, 1),
    ("match", 10, None, 3),
    ("score", 5, SCORE_WIDEST, None),
    ("period", 8, 11, None),
    ("clock", 5, 6, None),
    ("last incident", 10, None, 2),
    ("conf", 4, 4, None),
)


def _shown(match: Match, now: datetime) -> bool:
    if match.finished_at is not None:
        return now - match.finished_at < FINISHED_KEPT
    return match.status in (None, IN_PROGRESS)


def _row(match: Match, now: datetime) -> tuple[str | Text, ...]:
    names = f"{match.home} – {match.away}" if match.home else f"fixture {match.fixture_id}"
    finished = match.finished_at is not None
    confidence = "" if match.confidence is None else f"{match.confidence:.2f}"
    unsure = match.confidence is not None and match.confidence < 1
    return (
        match.sport,
        names,
        Text(_score(match), style="bold"),
        "FT" if finished else (match.period or ""),
        "" if finished else _clock(match, now),
        match.last,
        Text(confidence, style="yellow" if unsure else ""),
    )


def _score(match: Match) -> str:
    periods = [score for _, (_, score) in sorted(match.periods.items())]
    if match.in_sets:
        over = [score for number, (_, score) in match.periods.items() if number in match.over]
        won = (sum(h > a for h, a in over), sum(a > h for h, a in over))
        sets = " ".join(f"{h:g}-{a:g}" for h, a in periods)
        return f"{won[0]}–{won[1]} ({sets})"
    home, away = sum(p[0] for p in periods), sum(p[1] for p in periods)
    return f"{home:g}–{away:g}"


def _clock(match: Match, now: datetime) -> str:
    if not match.timed or match.clock_s is None or match.clock_at is None:
        return ""
    seconds = match.clock_s
    if match.clock_running:
        seconds += max(0, int((now - match.clock_at).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _pulse(board: Scoreboard, now: datetime, shown: int) -> Text:
    heard = board.last_heartbeat
    silence = (now - (heard or board.since)).total_seconds()
    line = Text(f"heartbeat {silence:.0f} s ago" if heard else "no heartbeat yet")
    line.append(f" · {shown} {'match' if shown == 1 else 'matches'} on the board")
    if board.active_events is not None:
        # The keep-alive counts every fixture of the package that is live or about to start, most of which
        # have said nothing yet: a figure other than the board's, so said as the keep-alive's.
        line.append(f" · keep-alive: {len(board.active_events)} fixtures live or about to start")
    line.append(f" · {board.messages} messages")
    quiet = board.heartbeat_s > 0 and silence > QUIET_INTERVALS * board.heartbeat_s
    if quiet:
        intervals = f"{QUIET_INTERVALS} intervals of {board.heartbeat_s:g} s"
        line.append(f"\nfeed quiet: no heartbeat for {silence:.0f} s ({intervals})", style="bold red")
    return line
