"""A match day as a timeline: what the feed says, and when, while demo fixtures are played (`livescore
simulate`).

`match_day(fixtures, seed)` is a pure function: the same fixtures and seed give the same timeline. Each
fixture goes about to start (9) → in progress (2) → finished (3) through fixture updates, and between
kick-off and the final whistle its incidents come at the pace of its sport: periods started and
finished, the score per period, statistics, substitutions, VAR reviews now and then, the clock. Times are
match seconds from the start of the day; `cli/simulate.py` plays them, scaled by `--speed`.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import NamedTuple

from msgspec.structs import replace

from cli.demo_fixtures import (
    AMERICAN_FOOTBALL,
    BASEBALL,
    BASKETBALL,
    FOOTBALL,
    HANDBALL,
    ICE_HOCKEY,
    TENNIS,
    VOLLEYBALL,
    generate,
)
from domain.fixtures import Fixture, FixtureStatus, Ref
from domain.incidents import Incident, Player, Value

# The clock is looked at in steps of this many match seconds: at most a few plays per step.
STEP_S = 30
# A fixture is announced as about to start at the start of the day; kick-offs follow within this many
# match seconds (a minute of real time at the default speed), the first one after a minute.
FIRST_KICKOFF_S, KICKOFFS_WITHIN_S = 60, 300
# The clock is reported every this many match seconds while it runs.
TIMER_EVERY_S = 300
# A scoring play is first reported with lower confidence this often, then confirmed a moment later.
UNSURE_SHARE = 0.12
# Football: a goal is reviewed by VAR this often; the review takes this many match seconds.
VAR_SHARE, VAR_REVIEW_S = 0.2, 60
# Simulated fixtures get ids of their own (per seed), clear of `fixtures generate`'s and within int32.
FIRST_SIMULATED_ID = 900_000_000
# Incidents of a fixture are numbered after it: fixture id × this + their number.
INCIDENTS_PER_FIXTURE = 10_000


class Timed(NamedTuple):
    """A sport played on the clock, in periods of fixed length."""

    periods: tuple[str, ...]
    period_minutes: float
    # Minutes between periods (one fewer than the periods).
    breaks: tuple[float, ...]
    # (points, share) of a scoring play.
    points: tuple[tuple[int, float], ...]
    scoring_per_minute: float
    # (statistic, per team per minute)
    statistics: tuple[tuple[str, float], ...]
    # Substitutions per team, in the later periods.
    substitutions: int = 0
    possession: bool = False
    # Whether a match clock runs, which the feed reports (`Timer`); baseball's innings have none.
    clock: bool = True


class Race(NamedTuple):
    """A sport played in sets, each won by reaching a target first (games in tennis, points in volleyball)."""

    unit: str
    seconds_per_unit: float
    target: int
    # The deciding set's target (15 in volleyball).
    last_target: int
    # Tennis ends a set at 7 games (the tie-break); volleyball plays on until one leads by two.
    cap: int | None
    sets_to_win: int
    # (statistic, chance per unit)
    statistics: tuple[tuple[str, float], ...]


def _ordinals(count: int, noun: str) -> tuple[str, ...]:
    names = ("1st", "2nd", "3rd", *(f"{n}th" for n in range(4, count + 1)))
    return tuple(f"{n} {noun}" for n in names[:count])


SPORTS: dict[int, Timed | Race] = {
    FOOTBALL.ref.id: Timed(
        _ordinals(2, "Half"),
        45,
        (15,),
        ((1, 1.0),),
        1.35 / 90,
        (
            ("Corners", 5 / 90),
            ("Shots on target", 4.5 / 90),
            ("Yellow cards", 2 / 90),
            ("Red cards", 0.06 / 90),
        ),
        substitutions=5,
        possession=True,
    ),
    BASKETBALL.ref.id: Timed(
        _ordinals(4, "Quarter"),
        12,
        (2, 15, 2),
        ((2, 0.62), (3, 0.25), (1, 0.13)),
        40 / 48,
        (("Fouls", 20 / 48), ("Timeouts", 4 / 48)),
        substitutions=8,
    ),
    ICE_HOCKEY.ref.id: Timed(
        _ordinals(3, "Period"),
        20,
        (18, 18),
        ((1, 1.0),),
        3 / 60,
        (("Shots on goal", 30 / 60), ("Penalties", 4 / 60)),
    ),
    BASEBALL.ref.id: Timed(
        _ordinals(9, "Inning"),
        20,
        (2,) * 8,
        ((1, 0.7), (2, 0.2), (3, 0.07), (4, 0.03)),
        0.45 / 20,
        (("Hits", 0.9 / 20),),
        clock=False,
    ),
    AMERICAN_FOOTBALL.ref.id: Timed(
        _ordinals(4, "Quarter"),
        15,
        (2, 20, 2),
        ((7, 0.45), (3, 0.4), (6, 0.1), (2, 0.05)),
        4.5 / 60,
        (("Turnovers", 1.5 / 60), ("Penalties", 6 / 60)),
    ),
    HANDBALL.ref.id: Timed(
        _ordinals(2, "Half"),
        30,
        (15,),
        ((1, 1.0),),
        27 / 60,
        (("7m throws", 4 / 60), ("2-minute suspensions", 3 / 60)),
        substitutions=3,
    ),
    TENNIS.ref.id: Race("Game", 200, 6, 6, 7, 2, (("Aces", 0.35), ("Double faults", 0.12))),
    VOLLEYBALL.ref.id: Race("Point", 25, 25, 15, None, 3, (("Aces", 0.05), ("Blocks", 0.12))),
}


@dataclass(frozen=True, slots=True)
class Beat:
    """One thing the feed says: a fixture update (`status`) or an incident, `at_s` match seconds into the
    day."""

    at_s: float
    fixture_id: int
    status: FixtureStatus | None = None
    incident: Incident | None = None


def pick_matches(count: int, seed: int) -> list[Fixture]:
    """`count` demo fixtures with every sport in turn (football first, as the feed's share has it), ids of
    their own; their times and statuses are the player's to set."""
    pool = list(generate(max(200, count * 20), seed, now=datetime(2030, 1, 1, tzinfo=UTC)))
    by_sport: dict[int, list[Fixture]] = {}
    for fixture in pool:
        by_sport.setdefault(fixture.sport.id, []).append(fixture)
    queues = sorted(by_sport.values(), key=len, reverse=True)
    picked = [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)][:count]
    first = FIRST_SIMULATED_ID + (seed % 1_000_000) * 1000
    return [_replace_id(fixture, first + index) for index, fixture in enumerate(picked)]


def _replace_id(fixture: Fixture, fixture_id: int) -> Fixture:
    return replace(fixture, fixture_id=fixture_id, status=FixtureStatus.ABOUT_TO_START)


def match_day(fixtures: list[Fixture], seed: int) -> list[Beat]:
    """Every beat of the day, in time order (a fixture's own beats in the order they happen)."""
    rng = Random(seed)
    kickoffs = sorted(FIRST_KICKOFF_S + rng.random() * KICKOFFS_WITHIN_S for _ in fixtures)
    beats: list[Beat] = []
    for fixture, kickoff in zip(fixtures, kickoffs, strict=True):
        beats.append(Beat(0.0, fixture.fixture_id, FixtureStatus.ABOUT_TO_START))
        beats += _Match(fixture, Random(rng.random()), kickoff).play()
    return sorted(beats, key=lambda beat: beat.at_s)


@dataclass
class _Match:
    fixture: Fixture
    rng: Random
    kickoff_s: float
    # Match seconds since kick-off, breaks included (when the feed says things) …
    elapsed_s: float = 0.0
    # … and on the match clock (breaks excluded), which incidents carry as `seconds`.
    clock_s: int = 0
    beats: list[Beat] = field(default_factory=list)
    said: int = 0
    counted: dict[str, list[int]] = field(default_factory=dict)

    def play(self) -> list[Beat]:
        self.beats.append(Beat(self.kickoff_s, self.fixture.fixture_id, FixtureStatus.IN_PROGRESS))
        sport = SPORTS.get(self.fixture.sport.id, SPORTS[FOOTBALL.ref.id])
        if isinstance(sport, Timed):
            self._timed(sport)
        else:
            self._race(sport)
        self.elapsed_s += 1
        self.beats.append(
            Beat(self.kickoff_s + self.elapsed_s, self.fixture.fixture_id, FixtureStatus.FINISHED)
        )
        return self.beats

    def say(
        self,
        kind: str,
        confidence: float = 1.0,
        *,
        name: str,
        period: Ref,
        values: list[Value] | None = None,
        initiator_position: int | None = None,
        player_list: list[Player] | None = None,
        status: str | None = None,
    ) -> None:
        """An incident now; each one a little after the one before, so that their order is their time."""
        self.said += 1
        incident = Incident(
            id=self.fixture.fixture_id * INCIDENTS_PER_FIXTURE + self.said,
            fixture_id=self.fixture.fixture_id,
            kind=kind,
            confidence=confidence,
            name=name,
            values=values,
            period=period,
            seconds=self.clock_s,
            initiator_position=initiator_position,
            player_list=player_list,
            status=status,
        )
        self.elapsed_s += 0.5
        self.beats.append(Beat(self.kickoff_s + self.elapsed_s, self.fixture.fixture_id, incident=incident))

    # Sports on the clock.

    def _timed(self, sport: Timed) -> None:
        for index, name in enumerate(sport.periods):
            period = Ref(index + 1, name)
            self._period(sport, period, late=index >= len(sport.periods) // 2)
            if index < len(sport.breaks):
                self.elapsed_s += sport.breaks[index] * 60

    def _period(self, sport: Timed, period: Ref, late: bool) -> None:
        self.say("Period", name=period.name, period=period, status="Started")
        self._timer(sport, period, "Started")
        score = [0, 0]
        for _ in range(int(sport.period_minutes * 60 / STEP_S)):
            step_at = self.elapsed_s
            self._step(sport, period, score, late)
            self.clock_s += STEP_S
            # Plays take half a second each of the step; a VAR review stops the clock.
            self.elapsed_s = max(self.elapsed_s, step_at + STEP_S)
            if self.clock_s % TIMER_EVERY_S == 0:
                self._timer(sport, period, "Running")
        self._timer(sport, period, "Stopped")
        self.say("Period", name=period.name, period=period, status="Finished")

    def _timer(self, sport: Timed, period: Ref, status: str) -> None:
        if sport.clock:
            self.say("Timer", name="Clock", period=period, status=status)

    def _step(self, sport: Timed, period: Ref, score: list[int], late: bool) -> None:
        chance = sport.scoring_per_minute * STEP_S / 60
        for position in (1, 2):
            if self.rng.random() < chance:
                score[position - 1] += self._points(sport)
                self._scored(period, score, position)
            for statistic, per_minute in sport.statistics:
                if self.rng.random() < per_minute * STEP_S / 60:
                    self._count(statistic, period, position)
            if late and self.rng.random() < sport.substitutions / (sport.period_minutes * 60 / STEP_S) / 2:
                self._substitution(period, position)
        if sport.possession and self.clock_s % 900 == 0 and self.clock_s:
            home = self.rng.randint(38, 62)
            self.say("Possession", name="Possession %", period=period, values=_pair(home, 100 - home))

    def _points(self, sport: Timed) -> int:
        draw, total = self.rng.random(), 0.0
        for points, share in sport.points:
            total += share
            if draw < total:
                return points
        return sport.points[0][0]

    def _scored(self, period: Ref, score: list[int], position: int) -> None:
        """A scoring play: the period's score, sometimes unsure then confirmed, now and then reviewed."""
        scorer = self._player(position)
        values, players = _pair(*score), [Player(scorer[0], scorer[1], position, "Scorer")]
        sure = self.rng.random() >= UNSURE_SHARE
        confidence = 1.0 if sure else round(0.55 + 0.35 * self.rng.random(), 2)
        for certainty in (confidence,) if sure else (confidence, 1.0):
            self.say(
                "Score", certainty, name="Score", period=period, values=values,
                initiator_position=position, player_list=players,
            )  # fmt: skip
        if self.fixture.sport.id == FOOTBALL.ref.id and self.rng.random() < VAR_SHARE:
            self.say("VAR", name="Goal check", period=period, initiator_position=position, status="Started")
            self.elapsed_s += VAR_REVIEW_S
            self.say(
                "VAR", name="Goal confirmed", period=period, initiator_position=position, status="Finished"
            )

    def _count(self, statistic: str, period: Ref, position: int) -> None:
        counts = self.counted.setdefault(statistic, [0, 0])
        counts[position - 1] += 1
        self.say(
            "Statistic", name=statistic, period=period, values=_pair(*counts), initiator_position=position
        )

    def _substitution(self, period: Ref, position: int) -> None:
        (on_id, on_name), (off_id, off_name) = self._player(position, bench=True), self._player(position)
        players = [Player(on_id, on_name, position, "In"), Player(off_id, off_name, position, "Out")]
        self.say(
            "PlayerStatistic",
            name="Substitution",
            period=period,
            initiator_position=position,
            player_list=players,
        )

    def _player(self, position: int, bench: bool = False) -> tuple[int, str]:
        team = next(p for p in self.fixture.participants if p.position == position)
        number = self.rng.randint(12, 23) if bench else self.rng.randint(1, 11)
        first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
        return team.id * 100 + number, f"{first} {last}"

    # Sports in sets.

    def _race(self, sport: Race) -> None:
        sets = [0, 0]
        # One side is a little stronger: matches are not coin tosses.
        edge = 0.5 + (self.rng.random() - 0.5) * 0.3
        while max(sets) < sport.sets_to_win:
            number = sum(sets) + 1
            deciding = number == 2 * sport.sets_to_win - 1
            period = Ref(number, f"{_ordinals(number, 'Set')[-1]}")
            winner = self._set(sport, period, sport.last_target if deciding else sport.target, edge)
            sets[winner - 1] += 1
            self.elapsed_s += 120

    def _set(self, sport: Race, period: Ref, target: int, edge: float) -> int:
        self.say("Period", name=period.name, period=period, status="Started")
        score = [0, 0]
        while not _set_over(score, target, sport.cap):
            position = 1 if self.rng.random() < edge else 2
            score[position - 1] += 1
            self.elapsed_s += sport.seconds_per_unit
            self.clock_s += int(sport.seconds_per_unit)
            self.say(
                "Score", name=sport.unit, period=period, values=_pair(*score), initiator_position=position
            )
            for statistic, chance in sport.statistics:
                if self.rng.random() < chance:
                    self._count(statistic, period, position)
        self.say("Period", name=period.name, period=period, status="Finished")
        return 1 if score[0] > score[1] else 2


def _set_over(score: list[int], target: int, cap: int | None) -> bool:
    high, low = max(score), min(score)
    return (high >= target and high - low >= 2) or (cap is not None and high >= cap)


def _pair(home: int, away: int) -> list[Value]:
    # The upstream feed writes values as strings of numbers (SPEC §12); so does the demo.
    return [Value(1, str(home)), Value(2, str(away))]


_FIRST_NAMES = (
    "Alex", "Ben", "Carlos", "Daniel", "Emil", "Felix", "Hugo", "Ivan", "Jonas", "Kai", "Lucas", "Marco",
    "Noah", "Oscar", "Pablo", "Rafael", "Sami", "Tomás", "Victor", "Yusuf",
)  # fmt: skip
_LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanov", "Jensen",
    "Keller", "Larsen", "Moreau", "Novak", "Olsen", "Petrov", "Rossi", "Santos", "Weber", "Zimmermann",
)  # fmt: skip
