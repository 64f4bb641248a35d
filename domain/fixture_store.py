"""Fixtures in storage: storing the newer version, and reading upcoming fixtures in chunks."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import msgspec
from sqlalchemy import ColumnElement, Insert, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.fixtures import UPCOMING, Fixture, FixtureStatus, encode_fixture
from domain.models import StoredFixture


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no time zone: storing everything in UTC keeps comparisons right on both databases.
    return moment.astimezone(UTC)


def to_row(fixture: Fixture) -> dict[str, object]:
    fixture = fixture.stamped()
    assert fixture.last_update is not None
    return {
        "fixture_id": fixture.fixture_id,
        "status": fixture.status,
        "start_date": _utc(fixture.start_date),
        "sport_id": fixture.sport.id,
        "sport_name": fixture.sport.name,
        "league_id": fixture.league.id,
        "league_name": fixture.league.name,
        "location_id": fixture.location.id,
        "location_name": fixture.location.name,
        "participants": msgspec.json.encode(fixture.participants).decode(),
        "last_update": _utc(fixture.last_update),
        "body": encode_fixture(fixture),
    }


def _upsert_newer(conn: AsyncConnection) -> Insert:
    """INSERT … ON CONFLICT DO UPDATE, only where the incoming fixture is newer than the stored one."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(StoredFixture)
    columns = [c.name for c in StoredFixture.__table__.columns if c.name != "fixture_id"]  # type: ignore[attr-defined]
    newer: ColumnElement[bool] = col(StoredFixture.last_update) < stmt.excluded.last_update
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=["fixture_id"], set_={c: stmt.excluded[c] for c in columns}, where=newer
    )
    return upsert


async def store_fixtures(conn: AsyncConnection, fixtures: Iterable[Fixture]) -> None:
    """Store many fixtures (an import); an older version never replaces a newer one."""
    rows = [to_row(f) for f in fixtures]
    if rows:
        await conn.execute(_upsert_newer(conn), rows)


async def store_if_newer(conn: AsyncConnection, fixture: Fixture) -> bool:
    """Store one fixture update; False when what is stored is as new or newer (the update is stale)."""
    stmt = _upsert_newer(conn).values(to_row(fixture)).returning(col(StoredFixture.fixture_id))
    return (await conn.execute(stmt)).first() is not None


class StoredBody(NamedTuple):
    """A stored fixture as a snapshot sends it: its body as published, and the ids its message names."""

    fixture_id: int
    sport_id: int
    league_id: int
    body: bytes


async def upcoming_chunk(
    conn: AsyncConnection, sports: Sequence[int], leagues: Sequence[int], after_id: int, size: int
) -> list[StoredBody]:
    """The next `size` upcoming fixtures after `after_id`, in id order."""
    stored = StoredFixture
    query = select(
        col(stored.fixture_id), col(stored.sport_id), col(stored.league_id), col(stored.body)
    ).where(
        col(StoredFixture.status).in_([int(s) for s in UPCOMING]), col(StoredFixture.fixture_id) > after_id
    )
    if sports or leagues:
        query = query.where(
            or_(col(StoredFixture.sport_id).in_(sports), col(StoredFixture.league_id).in_(leagues))
        )
    rows = await conn.execute(query.order_by(col(StoredFixture.fixture_id)).limit(size))
    return [StoredBody(fixture_id, sport, league, bytes(body)) for fixture_id, sport, league, body in rows]


class FixtureRefs(NamedTuple):
    """What a message about a fixture names beside its id (SPEC §10 header) and what subscriptions match."""

    sport_id: int
    league_id: int


async def fixture_refs(conn: AsyncConnection, fixture_ids: Iterable[int]) -> dict[int, FixtureRefs]:
    """The sport and league of each of these fixtures that storage holds."""
    wanted = sorted(set(fixture_ids))
    if not wanted:
        return {}
    query = select(col(StoredFixture.fixture_id), col(StoredFixture.sport_id), col(StoredFixture.league_id))
    rows = await conn.execute(query.where(col(StoredFixture.fixture_id).in_(wanted)))
    return {fixture_id: FixtureRefs(sport, league) for fixture_id, sport, league in rows}


async def active_events(conn: AsyncConnection) -> dict[int, FixtureRefs]:
    """Fixtures in progress (2) or about to start (9), what a keep-alive lists (SPEC §10), in id order."""
    live = [int(FixtureStatus.IN_PROGRESS), int(FixtureStatus.ABOUT_TO_START)]
    query = select(col(StoredFixture.fixture_id), col(StoredFixture.sport_id), col(StoredFixture.league_id))
    rows = await conn.execute(
        query.where(col(StoredFixture.status).in_(live)).order_by(col(StoredFixture.fixture_id))
    )
    return {fixture_id: FixtureRefs(sport, league) for fixture_id, sport, league in rows}


async def count_fixtures(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(StoredFixture))).scalar_one())
