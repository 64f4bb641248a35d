"""Demo fixtures: deterministic per seed, valid on the wire, consistent with the clock they were made for."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cli.demo_fixtures import generate
from domain.fixtures import UPCOMING, Fixture, FixtureStatus, decode_fixture, encode_fixture

# A Saturday afternoon, off the quarter hour, so the status boundaries are not all on round times.
NOW = datetime(2025, 3, 15, 14, 7, 30, tzinfo=UTC)
FOOTBALL = 6046
OVER = (FixtureStatus.FINISHED, FixtureStatus.ABANDONED)
LIVE = (FixtureStatus.IN_PROGRESS, FixtureStatus.INTERRUPTED, FixtureStatus.COVERAGE_LOST)


@pytest.fixture(scope="module")
def fixtures() -> list[Fixture]:
    return list(generate(5000, seed=42, now=NOW))


def test_the_same_seed_and_clock_give_the_same_fixtures() -> None:
    assert list(generate(300, seed=7, now=NOW)) == list(generate(300, seed=7, now=NOW))


def test_another_seed_gives_other_fixtures() -> None:
    assert list(generate(300, seed=7, now=NOW)) != list(generate(300, seed=8, now=NOW))


def test_without_a_clock_runs_within_the_same_hour_agree() -> None:
    # Should the hour turn between reading the clock and generating, the second attempt cannot see it turn.
    for _ in range(2):
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        made = list(generate(50, seed=1))
        if datetime.now(UTC) - hour < timedelta(hours=1):
            break
    assert made == list(generate(50, seed=1, now=hour))


@pytest.mark.parametrize("count", [0, 1, 137])
def test_exactly_count_fixtures_are_made(count: int) -> None:
    assert sum(1 for _ in generate(count, seed=3, now=NOW)) == count


def test_fixtures_are_made_one_at_a_time() -> None:
    assert next(generate(10**12, seed=3, now=NOW)).fixture_id > 0


def test_fixture_ids_are_unique_and_positive(fixtures: list[Fixture]) -> None:
    ids = [fixture.fixture_id for fixture in fixtures]
    assert len(set(ids)) == len(ids)
    assert min(ids) > 0


def test_every_fixture_survives_the_wire_format(fixtures: list[Fixture]) -> None:
    for fixture in fixtures:
        assert decode_fixture(encode_fixture(fixture)) == fixture


def test_times_are_utc_on_the_quarter_hour_and_updates_never_ahead_of_now(fixtures: list[Fixture]) -> None:
    for fixture in fixtures:
        assert fixture.start_date.utcoffset() == timedelta()
        assert fixture.start_date.minute % 15 == 0
        assert fixture.start_date.second == 0
        assert NOW - timedelta(days=15) < fixture.start_date < NOW + timedelta(days=32)
        assert fixture.last_update is not None
        assert fixture.last_update <= NOW


def test_statuses_agree_with_the_start_date(fixtures: list[Fixture]) -> None:
    for fixture in fixtures:
        lead = fixture.start_date - NOW
        if fixture.status in OVER or fixture.status in LIVE:
            assert lead <= timedelta(), fixture
        if fixture.status in UPCOMING:
            assert lead > timedelta(), fixture
        if fixture.status == FixtureStatus.ABOUT_TO_START:
            assert lead <= timedelta(minutes=30), fixture
        if fixture.status == FixtureStatus.NOT_STARTED:
            assert lead > timedelta(minutes=30), fixture


def test_a_large_batch_has_fixtures_not_started_about_to_start_live_and_finished() -> None:
    statuses = Counter(fixture.status for fixture in generate(2000, seed=11, now=NOW))
    assert statuses[FixtureStatus.NOT_STARTED] > 0
    assert statuses[FixtureStatus.ABOUT_TO_START] > 0
    assert statuses[FixtureStatus.IN_PROGRESS] > 0
    assert statuses[FixtureStatus.FINISHED] > 0


def test_participants_are_two_distinct_teams_home_then_away(fixtures: list[Fixture]) -> None:
    for fixture in fixtures:
        home, away = fixture.participants
        assert (home.position, away.position) == (1, 2)
        assert home.id != away.id
        assert home.name != away.name


def test_a_team_keeps_one_id(fixtures: list[Fixture]) -> None:
    teams = {(team.id, team.name) for fixture in fixtures for team in fixture.participants}
    assert len({team_id for team_id, _ in teams}) == len(teams)
    assert len({name for _, name in teams}) == len(teams)


def test_football_is_the_most_common_sport(fixtures: list[Fixture]) -> None:
    sports = Counter(fixture.sport.id for fixture in fixtures)
    assert sports.most_common(1)[0][0] == FOOTBALL


def test_a_league_always_has_the_same_sport_and_location(fixtures: list[Fixture]) -> None:
    leagues = {(fixture.league, fixture.sport, fixture.location) for fixture in fixtures}
    assert len({league for league, _, _ in leagues}) == len(leagues)


def test_a_clock_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        generate(1, seed=1, now=datetime(2025, 3, 15, 14, 0))


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate(-1, seed=1, now=NOW)
