"""Which packages receive what: a package's subscriptions (sports and leagues; none = everything) and the
active packages with theirs, read from storage."""

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.commands import StreamId
from domain.delivery import Subscriptions
from domain.fixture_store import FixtureRefs
from domain.models import Package, PackageSubscription


def subscriptions(conn: Connection, package_id: int) -> tuple[list[int], list[int]]:
    """The sports and leagues a package subscribes to; both empty means everything. Synchronous, to run
    in a worker's transaction (domain/transactions.py) or through `AsyncConnection.run_sync`."""
    rows = conn.execute(
        select(col(PackageSubscription.kind), col(PackageSubscription.ref_id)).where(
            col(PackageSubscription.package_id) == package_id
        )
    )
    sports: list[int] = []
    leagues: list[int] = []
    for kind, ref_id in rows:
        (sports if kind == "sport" else leagues).append(ref_id)
    return sports, leagues


def subscriptions_of(conn: Connection, package_ids: Iterable[int]) -> dict[int, Subscriptions]:
    """The subscriptions of each of these packages that storage holds (absent: not in storage).
    Synchronous, to run in a worker's transaction; `package_subscriptions` on an async connection."""
    ids = list(package_ids)
    if not ids:
        return {}
    held = conn.execute(select(col(Package.id)).where(col(Package.id).in_(ids)))
    found: dict[int, tuple[set[int], set[int]]] = {package_id: (set(), set()) for (package_id,) in held}
    rows = conn.execute(
        select(
            col(PackageSubscription.package_id),
            col(PackageSubscription.kind),
            col(PackageSubscription.ref_id),
        ).where(col(PackageSubscription.package_id).in_(list(found)))
    )
    for package_id, kind, ref_id in rows:
        found[package_id][0 if kind == "sport" else 1].add(ref_id)
    return {p: Subscriptions(frozenset(s), frozenset(x)) for p, (s, x) in found.items()}


async def package_subscriptions(
    conn: AsyncConnection, package_ids: Iterable[int]
) -> dict[int, Subscriptions]:
    """`subscriptions_of` on an async connection."""
    return await conn.run_sync(subscriptions_of, list(package_ids))


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


def active_packages_of(conn: Connection) -> list[ActivePackage]:
    """Every active package with its subscriptions, in id order. Synchronous, to run in a worker's
    transaction; `active_packages` on an async connection."""
    query = select(col(Package.id), col(Package.applied_ms), col(Package.applied_seq))
    rows = list(conn.execute(query.where(col(Package.status) == "active").order_by(col(Package.id))))
    subscribed = select(
        col(PackageSubscription.package_id), col(PackageSubscription.kind), col(PackageSubscription.ref_id)
    )
    sports: dict[int, set[int]] = {}
    leagues: dict[int, set[int]] = {}
    for package_id, kind, ref_id in conn.execute(subscribed):
        (sports if kind == "sport" else leagues).setdefault(package_id, set()).add(ref_id)
    return [
        ActivePackage(i, StreamId(ms, seq), frozenset(sports.get(i, ())), frozenset(leagues.get(i, ())))
        for i, ms, seq in rows
    ]


async def active_packages(conn: AsyncConnection) -> list[ActivePackage]:
    """`active_packages_of` on an async connection."""
    return await conn.run_sync(active_packages_of)
