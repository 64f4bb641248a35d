"""Fixtures in storage: storing the newer version, and reading upcoming fixtures in chunks."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import msgspec
from sqlalchemy import ColumnElement, Insert, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.commands import StreamId
from domain.delivery import Subscriptions
from domain.fixtures import UPCOMING, Fixture, FixtureStatus, encode_fixture
from domain.models import Package, PackageSubscription, StoredFixture


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


async def subscriptions(conn: AsyncConnection, package_id: int) -> tuple[list[int], list[int]]:
    """The sports and leagues a package subscribes to; both empty means everything."""
    rows = await conn.execute(
        select(col(PackageSubscription.kind), col(PackageSubscription.ref_id)).where(
            col(PackageSubscription.package_id) == package_id
        )
    )
    sports: list[int] = []
    leagues: list[int] = []
    for kind, ref_id in rows:
        (sports if kind == "sport" else leagues).append(ref_id)
    return sports, leagues


async def package_subscriptions(
    conn: AsyncConnection, package_ids: Iterable[int]
) -> dict[int, Subscriptions]:
    """The subscriptions of each of these packages that storage holds (absent: not in storage)."""
    ids = list(package_ids)
    if not ids:
        return {}
    held = await conn.execute(select(col(Package.id)).where(col(Package.id).in_(ids)))
    found: dict[int, tuple[set[int], set[int]]] = {package_id: (set(), set()) for (package_id,) in held}
    rows = await conn.execute(
        select(
            col(PackageSubscription.package_id),
            col(PackageSubscription.kind),
            col(PackageSubscription.ref_id),
        ).where(col(PackageSubscription.package_id).in_(list(found)))
    )
    for package_id, kind, ref_id in rows:
        found[package_id][0 if kind == "sport" else 1].add(ref_id)
    return {p: Subscriptions(frozenset(s), frozenset(x)) for p, (s, x) in found.items()}


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


async def subscribed_active_packages(
    conn: AsyncConnection, sport_id: int, league_id: int
) -> list[tuple[int, StreamId]]:
    """Active packages that receive a fixture of this sport and league, with the stream id of the
    command that activated them (for refreshing their Redis status copy)."""
    subscribed = select(col(PackageSubscription.package_id)).where(
        or_(
            (col(PackageSubscription.kind) == "sport") & (col(PackageSubscription.ref_id) == sport_id),
            (col(PackageSubscription.kind) == "league") & (col(PackageSubscription.ref_id) == league_id),
        )
    )
    anything = select(col(PackageSubscription.package_id))
    query = select(col(Package.id), col(Package.applied_ms), col(Package.applied_seq)).where(
        col(Package.status) == "active",
        or_(col(Package.id).in_(subscribed), col(Package.id).not_in(anything)),
    )
    rows = await conn.execute(query.order_by(col(Package.id)))
    return [(package_id, StreamId(ms, seq)) for package_id, ms, seq in rows]


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


class ActivePackage(NamedTuple):
    package_id: int
    # The stream id of the command that activated it (for refreshing its Redis status copy).
    applied: StreamId
    sports: frozenset[int]
    leagues: frozenset[int]

    def receives(self, refs: FixtureRefs) -> bool:
        """The subscription rule of SPEC §4: none = everything, else its sport or its league."""
        if not self.sports and not self.leagues:
            return True
        return refs.sport_id in self.sports or refs.league_id in self.leagues


async def active_packages(conn: AsyncConnection) -> list[ActivePackage]:
    """Every active package with its subscriptions, in id order."""
    query = select(col(Package.id), col(Package.applied_ms), col(Package.applied_seq))
    rows = list(await conn.execute(query.where(col(Package.status) == "active").order_by(col(Package.id))))
    subscribed = select(
        col(PackageSubscription.package_id), col(PackageSubscription.kind), col(PackageSubscription.ref_id)
    )
    sports: dict[int, set[int]] = {}
    leagues: dict[int, set[int]] = {}
    for package_id, kind, ref_id in await conn.execute(subscribed):
        (sports if kind == "sport" else leagues).setdefault(package_id, set()).add(ref_id)
    return [
        ActivePackage(i, StreamId(ms, seq), frozenset(sports.get(i, ())), frozenset(leagues.get(i, ())))
        for i, ms, seq in rows
    ]


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
