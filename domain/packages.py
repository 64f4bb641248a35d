"""Packages in storage: creating them, reading logins, and applying activation commands."""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, case, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.commands import ChangeActivation, Outcome, PackageStatus, StreamId
from domain.errors import PackageNotFound
from domain.models import Package, PackageSubscription, utcnow
from domain.passwords import hash_password


@dataclass(frozen=True, slots=True)
class Login:
    """What authentication needs of a package, plus the status it had when read."""

    username: str
    password_hash: str
    credential_version: str
    status: PackageStatus
    applied: StreamId


@dataclass(frozen=True, slots=True)
class Applied:
    """The result of applying an activation command: its outcome and the package's state after it."""

    outcome: Outcome
    status: PackageStatus
    applied: StreamId


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
                col(Package.status),
                col(Package.applied_ms),
                col(Package.applied_seq),
            ).where(col(Package.id) == package_id)
        )
    ).first()
    if row is None:
        return None
    return Login(
        row.username,
        row.password_hash,
        row.credential_version,
        PackageStatus(row.status),
        StreamId(row.applied_ms, row.applied_seq),
    )


async def apply_activation(conn: AsyncConnection, command: ChangeActivation, entry: StreamId) -> Applied:
    """Last-writer-wins on the stream id: only a command newer than the last applied one changes the row.

    One UPDATE decides and records the outcome (its SET clauses see the row as it was), so concurrent
    workers need no lock and a redelivered command changes nothing.
    """
    target = command.target.value
    newer = tuple_(col(Package.applied_ms), col(Package.applied_seq)) < tuple_(entry.ms, entry.seq)
    applied = (
        await conn.execute(
            update(Package)
            .where(col(Package.id) == command.package_id, newer)
            .values(
                applied_outcome=case(
                    (_equals(col(Package.status), target), Outcome.ALREADY.value),
                    else_=Outcome.COMPLETED.value,
                ),
                status=target,
                status_reason=command.reason or None,
                applied_ms=entry.ms,
                applied_seq=entry.seq,
                updated_at=utcnow(),
            )
            .returning(col(Package.applied_outcome))
        )
    ).scalar_one_or_none()
    if applied is not None:
        return Applied(Outcome(applied), command.target, entry)
    return await _not_applied(conn, command, entry)


async def _not_applied(conn: AsyncConnection, command: ChangeActivation, entry: StreamId) -> Applied:
    """The outcome of a command that storage already reflects: a redelivery, or one superseded by a newer."""
    row = (
        await conn.execute(
            select(
                col(Package.status),
                col(Package.applied_ms),
                col(Package.applied_seq),
                col(Package.applied_outcome),
            ).where(col(Package.id) == command.package_id)
        )
    ).first()
    if row is None:
        return Applied(Outcome.MISSING, command.target, entry)
    status, current = PackageStatus(row.status), StreamId(row.applied_ms, row.applied_seq)
    if current == entry:
        return Applied(Outcome(row.applied_outcome), status, current)
    # Superseded: a newer command already decided the status; this one took effect before it.
    outcome = Outcome.ALREADY if status is command.target else Outcome.COMPLETED
    return Applied(outcome, status, current)


def _equals(column: object, value: str) -> ColumnElement[bool]:
    # SQLModel types columns as plain attributes, so `==` on them looks like a bool to mypy.
    return cast(ColumnElement[bool], column == value)


async def package_state(conn: AsyncConnection, package_id: int) -> tuple[PackageStatus, StreamId] | None:
    """A package's status and the stream id of the command that set it."""
    row = (
        await conn.execute(
            select(col(Package.status), col(Package.applied_ms), col(Package.applied_seq)).where(
                col(Package.id) == package_id
            )
        )
    ).first()
    return None if row is None else (PackageStatus(row.status), StreamId(row.applied_ms, row.applied_seq))
