"""Packages in storage: creating them, reading logins, and applying activation commands."""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.commands import Outcome, StreamId
from domain.errors import PackageNotFound
from domain.models import Package, PackageSubscription, utcnow
from domain.package_status import PackageStatus
from domain.passwords import hash_password


@dataclass(frozen=True, slots=True)
class PackageState:
    """A package's status as storage holds it: the stream id of the command that set it, and why the
    service set it (e.g. "queue-limit"; None when the customer did)."""

    status: PackageStatus
    applied: StreamId
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Login:
    """What authentication needs of a package, plus the state it had when read."""

    username: str
    password_hash: str
    credential_version: str
    state: PackageState


@dataclass(frozen=True, slots=True)
class PackageSecret:
    """What verifying a password against one package needs, for logins that name a username only."""

    package_id: int
    password_hash: str
    credential_version: str

    def __repr__(self) -> str:
        # Keeps the hash out of any log line or traceback that prints the object.
        return f"PackageSecret(package_id={self.package_id}, credential_version={self.credential_version!r})"


@dataclass(frozen=True, slots=True)
class PackageDetails:
    """What an operator may see of a package: never its password or hash. No sports and no leagues
    means every fixture."""

    id: int
    username: str
    status: str
    reason: str | None
    sports: list[int]
    leagues: list[int]


def new_credential_version() -> str:
    return secrets.token_hex(16)


async def add_package(
    conn: AsyncConnection,
    package_id: int,
    username: str,
    password: str,
    *,
    active: bool = False,
    sports: Iterable[int] = (),
    leagues: Iterable[int] = (),
) -> None:
    status = PackageStatus.ACTIVE if active else PackageStatus.INACTIVE
    await conn.execute(
        insert(Package).values(
            id=package_id,
            username=username,
            password_hash=hash_password(password),
            credential_version=new_credential_version(),
            status=status.value,
            applied_ms=0,
            applied_seq=0,
            applied_outcome=Outcome.COMPLETED.value,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    await set_subscriptions(conn, package_id, sports=sports, leagues=leagues)


async def set_subscriptions(
    conn: AsyncConnection, package_id: int, *, sports: Iterable[int], leagues: Iterable[int]
) -> None:
    await conn.execute(delete(PackageSubscription).where(col(PackageSubscription.package_id) == package_id))
    rows = [{"package_id": package_id, "kind": "sport", "ref_id": s} for s in set(sports)]
    rows += [{"package_id": package_id, "kind": "league", "ref_id": x} for x in set(leagues)]
    if rows:
        await conn.execute(insert(PackageSubscription), rows)


async def replace_subscriptions(
    conn: AsyncConnection, package_id: int, *, sports: Iterable[int], leagues: Iterable[int]
) -> None:
    """Subscriptions of an existing package replaced (none: every fixture)."""
    if await package_state(conn, package_id) is None:
        raise PackageNotFound(f"No package with id {package_id}")
    await set_subscriptions(conn, package_id, sports=sports, leagues=leagues)


async def remove_package(conn: AsyncConnection, package_id: int) -> None:
    """The package and its subscriptions gone from storage."""
    await conn.execute(delete(PackageSubscription).where(col(PackageSubscription.package_id) == package_id))
    if (await conn.execute(delete(Package).where(col(Package.id) == package_id))).rowcount == 0:
        raise PackageNotFound(f"No package with id {package_id}")


async def package_details(conn: AsyncConnection, package_id: int) -> PackageDetails:
    query = select(col(Package.username), col(Package.status), col(Package.status_reason))
    row = (await conn.execute(query.where(col(Package.id) == package_id))).first()
    if row is None:
        raise PackageNotFound(f"No package with id {package_id}")
    subscribed = await conn.execute(
        select(col(PackageSubscription.kind), col(PackageSubscription.ref_id))
        .where(col(PackageSubscription.package_id) == package_id)
        .order_by(col(PackageSubscription.ref_id))
    )
    refs = [(kind, ref_id) for kind, ref_id in subscribed]
    return PackageDetails(
        package_id,
        row.username,
        row.status,
        row.status_reason,
        [ref_id for kind, ref_id in refs if kind == "sport"],
        [ref_id for kind, ref_id in refs if kind == "league"],
    )


async def set_password(conn: AsyncConnection, package_id: int, password: str) -> str:
    """Store a new hash and a new credential version; returns the version for the Redis view."""
    version = new_credential_version()
    result = await conn.execute(
        update(Package)
        .where(col(Package.id) == package_id)
        .values(password_hash=hash_password(password), credential_version=version, updated_at=utcnow())
    )
    if result.rowcount == 0:
        raise PackageNotFound(f"No package with id {package_id}")
    return version


async def list_packages(conn: AsyncConnection) -> Sequence[tuple[int, str, str]]:
    rows = await conn.execute(
        select(col(Package.id), col(Package.username), col(Package.status)).order_by(col(Package.id))
    )
    return [(r.id, r.username, r.status) for r in rows]


async def find_login(conn: AsyncConnection, package_id: int) -> Login | None:
    row = (
        await conn.execute(
            select(
                col(Package.username),
                col(Package.password_hash),
                col(Package.credential_version),
                *_STATE_COLUMNS,
            ).where(col(Package.id) == package_id)
        )
    ).first()
    if row is None:
        return None
    return Login(row.username, row.password_hash, row.credential_version, _state(row))


async def secrets_of_username(conn: AsyncConnection, username: str) -> list[PackageSecret]:
    """Every package whose username is exactly this one (as stored, case-sensitive), by id."""
    rows = await conn.execute(
        select(col(Package.id), col(Package.password_hash), col(Package.credential_version))
        .where(col(Package.username) == username)
        .order_by(col(Package.id))
    )
    return [PackageSecret(r.id, r.password_hash, r.credential_version) for r in rows]


_STATE_COLUMNS = (
    col(Package.status),
    col(Package.applied_ms),
    col(Package.applied_seq),
    col(Package.status_reason),
)


def _state(row: Any) -> PackageState:
    return PackageState(
        PackageStatus(row.status), StreamId(row.applied_ms, row.applied_seq), row.status_reason
    )


async def package_state(conn: AsyncConnection, package_id: int) -> PackageState | None:
    """A package's status, the stream id of the command that set it, and why."""
    row = (await conn.execute(select(*_STATE_COLUMNS).where(col(Package.id) == package_id))).first()
    return None if row is None else _state(row)


async def stored_states(
    conn: AsyncConnection, package_ids: Sequence[int] | None = None
) -> list[tuple[int, PackageState, str]]:
    """Each package's id, state and credential version (every package when no ids are given)."""
    query = select(col(Package.id), col(Package.credential_version), *_STATE_COLUMNS)
    if package_ids is not None:
        query = query.where(col(Package.id).in_(package_ids))
    rows = await conn.execute(query.order_by(col(Package.id)))
    return [(row.id, _state(row), row.credential_version) for row in rows]
