"""`livescore simulate`: plays a match day (cli/match_day.py) into the feed's streams, in real time.

The matches are stored first (about to start, kick-off times on today's clock), so that their incidents
never wait for them; then each beat of the timeline is appended when its time comes — fixture updates
to `livescore:fixture-updates`, incidents to `livescore:incidents` — exactly as the feed would.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
import typer
from redis.asyncio import Redis

from cli.match_day import SPORTS, Beat, Race, match_day, pick_matches
from cli.redis_choice import redis_settings
from cli.runner import run
from domain.connections import open_redis
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, FixtureStatus, encode_fixture
from domain.incidents import INCIDENTS_MAXLEN, Incident, encode_incident
from domain.messages import MESSAGE_FIELD, MessageType, envelope
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import FIXTURE_UPDATES_STREAM, INCIDENTS_STREAM

# The default pace: a 90-minute match in 90 seconds.
DEFAULT_SPEED = 60.0
# Approximate length the fixture-updates stream is trimmed to by what the simulation appends.
UPDATES_MAXLEN = 1_000_000


def simulate(
    ctx: typer.Context,
    matches: Annotated[int, typer.Option("--matches", min=1, max=1000, help="Matches to play.")] = 8,
    speed: Annotated[
        float,
        typer.Option("--speed", min=0.1, help="Match seconds per real second (60: 90 minutes in 90 s)."),
    ] = DEFAULT_SPEED,
    seed: Annotated[int, typer.Option("--seed", help="The same seed plays the same match day.")] = 1,
    repeat: Annotated[
        bool, typer.Option("--repeat", help="Play match day after match day (seed, seed + 1, …).")
    ] = False,
) -> None:
    """Play live demo matches into the feed's streams: fixture updates and incidents."""
    settings = redis_settings(ctx)
    # Ctrl-C is how a simulation is cut short; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            run(play(settings, matches, speed, seed))
            if not repeat:
                return
            seed += 1


async def play(settings: Settings, matches: int, speed: float, seed: int) -> None:
    fixtures = pick_matches(matches, seed)
    beats = match_day(fixtures, seed)
    began = datetime.now(UTC)
    day = _Day(began, speed, {f.fixture_id: f for f in fixtures})
    await _store(settings, day.scheduled(beats))
    minutes = beats[-1].at_s / speed / 60 if beats else 0
    typer.echo(f"simulating {matches} matches (seed {seed}) at {speed:g}× for about {minutes:.1f} minutes")
    redis: Redis = open_redis(settings.redis_address)
    try:
        started = time.monotonic()
        for due, group in _groups(beats):
            await asyncio.sleep(max(0.0, started + due / speed - time.monotonic()))
            await _append(redis, day, group)
    finally:
        await redis.aclose()


@dataclass
class _Day:
    began: datetime
    speed: float
    fixtures: dict[int, Fixture]
    # Per fixture, the lastUpdate last sent: every update is newer than the one before (SPEC §4).
    sent: dict[int, datetime] = field(default_factory=dict)
    # Per fixture, per period, the last score: for the full-time line.
    scores: dict[int, dict[int, list[int]]] = field(default_factory=dict)

    def at(self, at_s: float) -> datetime:
        return self.began + timedelta(seconds=at_s / self.speed)

    def scheduled(self, beats: Iterable[Beat]) -> list[Fixture]:
        """The fixtures about to start, with their kick-off times, as stored before the day begins."""
        for beat in beats:
            if beat.status == FixtureStatus.IN_PROGRESS:
                fixture = self.fixtures[beat.fixture_id]
                self.fixtures[beat.fixture_id] = msgspec.structs.replace(
                    fixture, start_date=self.at(beat.at_s).replace(microsecond=0), last_update=self.began
                )
        return list(self.fixtures.values())

    def update(self, fixture_id: int, status: FixtureStatus) -> Fixture:
        now = max(datetime.now(UTC), self.sent.get(fixture_id, self.began) + timedelta(milliseconds=1))
        self.sent[fixture_id] = now
        fixture = msgspec.structs.replace(self.fixtures[fixture_id], status=int(status), last_update=now)
        self.fixtures[fixture_id] = fixture
        return fixture


async def _store(settings: Settings, fixtures: list[Fixture]) -> None:
    engine = open_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await store_fixtures(conn, fixtures)
    finally:
        await engine.dispose()


def _groups(beats: list[Beat]) -> list[tuple[float, list[Beat]]]:
    """Beats due at the same moment, together."""
    groups: list[tuple[float, list[Beat]]] = []
    for beat in beats:
        if groups and groups[-1][0] == beat.at_s:
            groups[-1][1].append(beat)
        else:
            groups.append((beat.at_s, [beat]))
    return groups


async def _append(redis: Redis, day: _Day, beats: list[Beat]) -> None:
    pipe = redis.pipeline(transaction=False)
    for beat in beats:
        if beat.incident is not None:
            message = envelope(MessageType.INCIDENT, encode_incident(beat.incident)).body
            pipe.xadd(INCIDENTS_STREAM, {MESSAGE_FIELD: message}, maxlen=INCIDENTS_MAXLEN, approximate=True)
            _remember_score(day, beat)
        elif beat.status is not None:
            fixture = day.update(beat.fixture_id, beat.status)
            message = envelope(MessageType.FIXTURE, encode_fixture(fixture)).body
            pipe.xadd(
                FIXTURE_UPDATES_STREAM, {MESSAGE_FIELD: message}, maxlen=UPDATES_MAXLEN, approximate=True
            )
            _announce(day, fixture)
    await pipe.execute()


def _remember_score(day: _Day, beat: Beat) -> None:
    if beat.incident is not None:
        remember_score(day.scores.setdefault(beat.fixture_id, {}), beat.incident)


def remember_score(periods: dict[int, list[int]], incident: Incident) -> None:
    """Per period, the last score (home, away) a fixture's incidents gave: what `full_time` reads."""
    if incident.kind == "Score" and incident.period and incident.values:
        periods[incident.period.id] = [
            int(v.value) for v in sorted(incident.values, key=lambda v: v.position)
        ]


def _announce(day: _Day, fixture: Fixture) -> None:
    if fixture.status == FixtureStatus.IN_PROGRESS:
        typer.echo(f"kick-off   {fixture.sport.name}: {_names(fixture)} (fixture {fixture.fixture_id})")
    elif fixture.status == FixtureStatus.FINISHED:
        typer.echo(full_time(fixture, day.scores.get(fixture.fixture_id, {})))


def full_time(fixture: Fixture, periods: dict[int, list[int]]) -> str:
    """The full-time line: sets won then each set for sports in sets, otherwise points summed."""
    scores = list(periods.values())
    if isinstance(SPORTS.get(fixture.sport.id), Race):
        sets = " ".join(f"{h}-{a}" for h, a in scores)
        home, away = sum(h > a for h, a in scores), sum(a > h for h, a in scores)
        return f"full time  {fixture.sport.name}: {_names(fixture)} {home}–{away} ({sets})"
    home, away = (sum(p[i] for p in scores) for i in (0, 1))
    return f"full time  {fixture.sport.name}: {_names(fixture)} {home}–{away}"


def _names(fixture: Fixture) -> str:
    return " – ".join(p.name for p in sorted(fixture.participants, key=lambda p: p.position))
