"""`livescore simulate`: plays a match day (cli/match_day.py) into the feed's streams, in real time.

The matches are stored first (about to start, kick-off times on today's clock), so that their incidents
never wait for them; then each beat of the timeline is appended when its time comes — fixture updates
to `livescore:fixture-updates`, incidents to `livescore:incidents` — exactly as the feed would.

Redis going away (a restart, a Sentinel failover in `dev --cluster`) does not end it: the beats due
meanwhile are appended again and again, with backoff, until Redis answers (through the sentinels, to the
primary of now); the terminal gets one line when Redis is lost and one when it is back.
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
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
# Redis unreachable: tried again after this, doubling up to the most; a Sentinel failover in `dev
# --cluster` takes a few seconds, a restart about one.
RETRY_FIRST_S, RETRY_MOST_S = 0.2, 5.0
# What a Redis that is away or changing primaries answers with (a demoted primary refuses writes; the
# sentinels name no primary for a moment); any other error is a fault of ours and ends the simulation.
_AWAY = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)


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
    outage = _Outage()
    try:
        started = time.monotonic()
        for due, group in _groups(beats):
            await asyncio.sleep(max(0.0, started + due / speed - time.monotonic()))
            await _append_until_done(redis, day, group, outage)
    finally:
        await redis.aclose()


@dataclass
class _Outage:
    """Whether Redis is away, so that an outage is said once when it begins and once when it ends."""

    since: float | None = None

    def began(self, exc: Exception) -> None:
        if self.since is None:
            self.since = time.monotonic()
            typer.echo(f"simulate: Redis unreachable ({type(exc).__name__}), retrying", err=True)

    def ended(self) -> None:
        if self.since is not None:
            typer.echo(f"simulate: Redis back after {time.monotonic() - self.since:.1f} s", err=True)
            self.since = None


async def _append_until_done(redis: Redis, day: "_Day", beats: list[Beat], outage: _Outage) -> None:
    """The beats appended, however long Redis is away. A pipeline cut short may have appended part of
    them: they are appended again (a demo tolerates a repeated incident; the service ignores a repeated
    fixture update, which is not newer)."""
    messages = _messages(day, beats)
    delay = RETRY_FIRST_S
    while True:
        try:
            await _append(redis, messages)
        except _AWAY as exc:
            outage.began(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MOST_S)
            continue
        outage.ended()
        break
    for fixture in (m.fixture for m in messages if m.fixture is not None):
        _announce(day, fixture)


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


@dataclass(frozen=True)
class _Message:
    stream: str
    body: bytes
    maxlen: int
    # The fixture a fixture update carries, to announce once it is appended.
    fixture: Fixture | None = None


def _messages(day: _Day, beats: list[Beat]) -> list[_Message]:
    messages = []
    for beat in beats:
        if beat.incident is not None:
            body = envelope(MessageType.INCIDENT, encode_incident(beat.incident)).body
            messages.append(_Message(INCIDENTS_STREAM, body, INCIDENTS_MAXLEN))
            _remember_score(day, beat)
        elif beat.status is not None:
            fixture = day.update(beat.fixture_id, beat.status)
            body = envelope(MessageType.FIXTURE, encode_fixture(fixture)).body
            messages.append(_Message(FIXTURE_UPDATES_STREAM, body, UPDATES_MAXLEN, fixture))
    return messages


async def _append(redis: Redis, messages: list[_Message]) -> None:
    pipe = redis.pipeline(transaction=False)
    for message in messages:
        pipe.xadd(message.stream, {MESSAGE_FIELD: message.body}, maxlen=message.maxlen, approximate=True)
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
