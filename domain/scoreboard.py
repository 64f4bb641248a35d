"""A fixture's scoreboard (SPEC §12, live state) as a pure fold over its incidents and fixture updates.

Plain values in, plain values out: `start` a board from the stored fixture, fold each incident in with
`apply_incident` (in the fixture's per-fixture order, with the time its stream entry was appended) and
each fixture update with `apply_fixture`, and turn it into the scoreboard message body with
`to_message_body`. The worker keeps the board in storage between incidents (`encode_scoreboard`,
`decode_scoreboard`); nothing here reads a clock, Redis or SQL, so the same incidents always give the same
board. The rules, and the choices made where §12 is silent, are in docs/notes/scoreboard.md.
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from msgspec.structs import replace

from domain.fixtures import Fixture, FixtureStatus, Ref
from domain.messages import timestamp
from domain.settings import DEFAULT_SET_SPORTS

# Incident ids remembered per board, newest last, so that a repeated incident changes nothing (§12).
# Repeats come from redelivery: a worker that dies between delivering a round and committing it has the
# round repeated, at most worker/partitions.py's READ_BATCH (500) entries, all of one fixture at worst.
# Twice that covers a repeat of a repeated round; a bound keeps a long match's board (rewritten on every
# incident) small: ~14 KB of ids at most, where remembering every id would grow for as long as the match.
APPLIED_IDS_KEPT = 1000
# Incident kinds that are not statistics even when they carry values (§12).
_NOT_STATISTICS = frozenset({"Score", "Period", "Timer"})
# A `Score` without a period counts as this period (§12); no incident names it.
NO_PERIOD = Ref(0, "")
# Fixture statuses in which a fixture is in progress once it has an incident (§12: "1 or 9").
_STARTING = (FixtureStatus.NOT_STARTED, FixtureStatus.ABOUT_TO_START)
# The fields of a fixture a scoreboard repeats (§12); its status is a field of the body itself.
_FIXTURE_PART = ("startDate", "sport", "league", "location", "participants")

# A value exactly as the incident wrote it (a JSON scalar; §12 expects strings of numbers).
Json = Any


class Result(msgspec.Struct, frozen=True):
    """A score per participant, as text: what the incident wrote, or a sum of it."""

    position: int
    value: str


class Figure(msgspec.Struct, frozen=True):
    """A statistic per participant, exactly as the incident wrote it."""

    position: int
    value: Json


class PeriodScore(msgspec.Struct, frozen=True):
    id: int
    name: str
    finished: bool = False
    # The latest score of this period, per position (sorted by position).
    results: tuple[Result, ...] = ()


class Statistic(msgspec.Struct, frozen=True):
    kind: str
    name: str | None
    values: tuple[Figure, ...]


class Scoreboard(msgspec.Struct, frozen=True, kw_only=True):
    """What §12's message body needs, plus the little state the fold itself needs to stay pure."""

    # The latest fixture version (status, names, times); older fixture updates are ignored (§4).
    fixture: Fixture
    # Decided once, at `start`, from the sport (LIVESCORE_SET_SPORTS): a fixture's sport does not change.
    in_sets: bool
    period: Ref | None = None
    # Whether a `Period` incident with status Started was applied: from then on only such an incident
    # moves `period`; before it, every incident that names a period does.
    period_started: bool = False
    seconds: int | None = None
    # Sorted by period id.
    periods: tuple[PeriodScore, ...] = ()
    # In the order each (kind, name) was first seen.
    statistics: tuple[Statistic, ...] = ()
    last_incident_id: int | None = None
    # The append time of the last incident applied (its stream entry's time).
    appended_at: datetime | None = None
    # The last APPLIED_IDS_KEPT incident ids applied, oldest first.
    applied: tuple[int, ...] = ()


def start(fixture: Fixture, set_sports: Collection[int] = DEFAULT_SET_SPORTS) -> Scoreboard:
    """The board of a fixture before any incident: its status and names, no score."""
    return Scoreboard(fixture=fixture, in_sets=fixture.sport.id in set_sports)


def apply_fixture(board: Scoreboard, fixture: Fixture) -> Scoreboard:
    """A fixture update: its status and fixture part, unless it is older than the version the board has."""
    _check_fixture(board, fixture.fixture_id)
    current = board.fixture.last_update
    if current is not None and fixture.last_update is not None and fixture.last_update < current:
        return board
    return replace(board, fixture=fixture)


def apply_incident(board: Scoreboard, incident: Mapping[str, Any], appended_at: datetime) -> Scoreboard:
    """One incident, as the raw decoded body (SPEC §10 keeps bodies whole), appended upstream at
    `appended_at`. An incident whose id was applied before, or that has no integer id, changes nothing;
    fields of an unexpected type are read as absent."""
    incident_id = _integer(incident.get("id"))
    if incident_id is None or incident_id in board.applied:
        return board
    _check_fixture(board, incident.get("fixtureId"))
    if appended_at.tzinfo is None:
        raise ValueError("appended_at must carry a time zone (the stream entry's time, UTC)")
    kind, period = _text(incident.get("kind")), _period_of(incident.get("period"))
    board = _follow_period(board, kind, incident.get("status"), period)
    results = _results(incident.get("values"))
    if kind == "Score" and results:
        board = _score(board, period or NO_PERIOD, results)
    elif kind not in _NOT_STATISTICS and kind is not None and isinstance(incident.get("values"), list):
        board = _statistic(board, kind, _text(incident.get("name")), _figures(incident["values"]))
    return _applied(board, incident_id, _integer(incident.get("seconds")), appended_at.astimezone(UTC))


def in_progress(board: Scoreboard) -> bool:
    """§12: status 2, or status 1 or 9 once an incident has come."""
    status = board.fixture.status
    return status == FixtureStatus.IN_PROGRESS or (status in _STARTING and board.last_incident_id is not None)


def to_message_body(board: Scoreboard) -> dict[str, Any]:
    """The body of a scoreboard message (MessageType 4), with §12's names."""
    fixture = board.fixture
    # The fixture part as fixture messages write it (same names, same time format).
    written = msgspec.to_builtins(fixture)
    return {
        "fixtureId": fixture.fixture_id,
        "status": fixture.status,
        "fixture": {name: written[name] for name in _FIXTURE_PART},
        "period": None if board.period is None else msgspec.to_builtins(board.period),
        "seconds": board.seconds,
        "results": _written(match_results(board)),
        "periods": [
            {"id": p.id, "name": p.name, "finished": p.finished, "results": _written(p.results)}
            for p in board.periods
        ],
        "statistics": [
            {"kind": s.kind, "name": s.name, "values": _written(s.values)} for s in board.statistics
        ],
        "lastIncidentId": board.last_incident_id,
        "updated": timestamp(_updated(board).astimezone(UTC)),
    }


def _written(values: Iterable[Result | Figure]) -> list[dict[str, Any]]:
    return [{"position": v.position, "value": v.value} for v in values]


def match_results(board: Scoreboard) -> list[Result]:
    """The match score per position: points summed over every period, or sets won for sports in sets.
    Every participant has one, "0" before anything is scored."""
    positions = sorted(
        {p.position for p in board.fixture.participants}
        | {r.position for period in board.periods for r in period.results}
    )
    if board.in_sets:
        totals = _sets_won(board.periods)
    else:
        totals = _summed(r for period in board.periods for r in period.results)
    return [Result(position, format_number(totals.get(position, Decimal(0)))) for position in positions]


def format_number(number: Decimal) -> str:
    """A sum as text: an integer when it is whole ("2" + "1" → "3", "1.5" + "1.5" → "3"), otherwise a
    plain decimal without exponent or trailing zeros ("1.25" + "1" → "2.25")."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def encode_scoreboard(board: Scoreboard) -> bytes:
    """The board as storage keeps it (JSON), internal state included."""
    return _encoder.encode(board)


def decode_scoreboard(data: bytes | str) -> Scoreboard:
    return _decoder.decode(data)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Scoreboard)


# The rules, one small step each.


def _follow_period(board: Scoreboard, kind: str | None, status: object, period: Ref | None) -> Scoreboard:
    """`period` and `periods[].finished`: a Started `Period` sets the period for good; a Finished one
    marks its period finished and leaves `period` as it is; before any Started one, every incident that
    names a period moves `period` to it."""
    if period is None:
        return board
    if kind == "Period" and status == "Started":
        board = _with_period(board, period, finished=False)
        return replace(board, period=period, period_started=True)
    if kind == "Period" and status == "Finished":
        board = _with_period(board, period, finished=True)
    return board if board.period_started else replace(board, period=period)


def _score(board: Scoreboard, period: Ref, results: dict[int, str]) -> Scoreboard:
    """A `Score`'s values are its period's score after it: they replace that period's, position by
    position (a position the incident does not mention keeps its score)."""
    board = _with_period(board, period)
    (current,) = (p for p in board.periods if p.id == period.id)
    merged = {r.position: r.value for r in current.results} | results
    scored = replace(current, results=tuple(Result(pos, merged[pos]) for pos in sorted(merged)))
    return replace(board, periods=tuple(scored if p.id == period.id else p for p in board.periods))


def _with_period(board: Scoreboard, period: Ref, finished: bool | None = None) -> Scoreboard:
    """The board with `period` among its periods (added in id order, renamed to the latest name, and
    marked finished or not when `finished` is given)."""
    found = next((p for p in board.periods if p.id == period.id), None)
    if found is None:
        found = PeriodScore(period.id, period.name)
    elif period.name:
        found = replace(found, name=period.name)
    if finished is not None:
        found = replace(found, finished=finished)
    others = [p for p in board.periods if p.id != period.id]
    return replace(board, periods=tuple(sorted([*others, found], key=lambda p: p.id)))


def _statistic(board: Scoreboard, kind: str, name: str | None, values: tuple[Figure, ...]) -> Scoreboard:
    """The latest values per (kind, name); a new statistic goes last."""
    new = Statistic(kind, name, values)
    if not any((s.kind, s.name) == (kind, name) for s in board.statistics):
        return replace(board, statistics=(*board.statistics, new))
    return replace(
        board, statistics=tuple(new if (s.kind, s.name) == (kind, name) else s for s in board.statistics)
    )


def _applied(board: Scoreboard, incident_id: int, seconds: int | None, appended_at: datetime) -> Scoreboard:
    return replace(
        board,
        seconds=board.seconds if seconds is None else seconds,
        last_incident_id=incident_id,
        appended_at=appended_at,
        applied=(*board.applied, incident_id)[-APPLIED_IDS_KEPT:],
    )


def _sets_won(periods: Iterable[PeriodScore]) -> dict[int, Decimal]:
    """Per position, the finished periods it won: the highest score of the period, alone (a tie, or a
    period without numbers, is nobody's)."""
    won: dict[int, Decimal] = {}
    for period in periods:
        scores = {r.position: n for r in period.results if (n := parse_number(r.value)) is not None}
        if not period.finished or not scores:
            continue
        best = max(scores.values())
        leaders = [position for position, score in scores.items() if score == best]
        if len(leaders) == 1:
            won[leaders[0]] = won.get(leaders[0], Decimal(0)) + 1
    return won


def _summed(results: Iterable[Result]) -> dict[int, Decimal]:
    """Per position, the sum of its numbers; a value that is not a number adds nothing."""
    totals: dict[int, Decimal] = {}
    for result in results:
        number = parse_number(result.value)
        if number is not None:
            totals[result.position] = totals.get(result.position, Decimal(0)) + number
    return totals


def _updated(board: Scoreboard) -> datetime:
    """The last incident's append time; before any incident, the fixture's own last update (then its
    start), so that the value still depends only on what was applied."""
    return board.appended_at or board.fixture.last_update or board.fixture.start_date


def _check_fixture(board: Scoreboard, fixture_id: object) -> None:
    # A board belongs to one fixture; anything else is the caller's mistake, not the feed's.
    if fixture_id != board.fixture.fixture_id:
        raise ValueError(f"fixture {fixture_id!r} applied to the scoreboard of {board.fixture.fixture_id}")


# Reading a raw incident body defensively: a field of an unexpected type counts as absent.


def parse_number(value: object) -> Decimal | None:
    """A finite number written as a JSON number or a string of one; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _period_of(value: object) -> Ref | None:
    if not isinstance(value, Mapping):
        return None
    period_id = _integer(value.get("id"))
    return None if period_id is None else Ref(period_id, _text(value.get("name")) or "")


def _entries(values: object) -> Iterable[tuple[int, Json]]:
    """(position, value) of each well-formed entry of `values`."""
    for entry in values if isinstance(values, list) else ():
        position = _integer(entry.get("position")) if isinstance(entry, Mapping) else None
        if position is not None and "value" in entry:
            yield position, entry["value"]


def _results(values: object) -> dict[int, str]:
    """A score's values as text: a string as written, a number in the form sums take; others skipped."""
    found: dict[int, str] = {}
    for position, value in _entries(values):
        if isinstance(value, str):
            found[position] = value
        elif (number := parse_number(value)) is not None:
            found[position] = format_number(number)
    return found


def _figures(values: object) -> tuple[Figure, ...]:
    return tuple(Figure(position, value) for position, value in _entries(values))
