"""Applying activation commands to storage: the latest command in stream order decides (SPEC §3).

A batch is applied in one transaction of two statements, whatever its size: read the packages it names
(locked on PostgreSQL), decide every command's outcome in stream order, write each changed package once.
Each write only succeeds if the package still carries the stream id that was read, so should another
worker have changed it in between (possible on SQLite, whose readers do not lock), nothing is written and
the batch is decided again on fresh rows, after a random pause. (Taking SQLite's write lock up front,
BEGIN IMMEDIATE, avoids the retries but cost several times a batch's own work; docs/BENCHMARKS.md.)
A redelivered or older command changes nothing.
"""

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from domain.commands import ChangeActivation, Outcome, StreamId
from domain.errors import ConcurrentChange
from domain.models import Package, utcnow
from domain.package_status import PackageStatus
from domain.transactions import OnTheLoop, Transactions

_packages = Package.__table__  # type: ignore[attr-defined]
# Attempts at a batch that keeps meeting concurrent writers before the error is left to the caller.
ATTEMPTS = 5
# Upper bound of the random pause before the n-th retry, times n.
RETRY_PAUSE_S = 0.02
# Another writer got in between (SQLite: the rows changed since read, or the write lock was busy).
_COLLISIONS = (ConcurrentChange, OperationalError)

_READ = (
    select(
        _packages.c.id,
        _packages.c.status,
        _packages.c.status_reason,
        _packages.c.applied_ms,
        _packages.c.applied_seq,
        _packages.c.applied_outcome,
    )
    .where(_packages.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_packages.c.id)  # one lock order for every worker: no deadlocks on PostgreSQL
    .with_for_update()  # rendered on PostgreSQL only; SQLite serialises writers itself
)
_WRITE = (
    update(_packages)
    .where(
        _packages.c.id == bindparam("package_id"),
        tuple_(_packages.c.applied_ms, _packages.c.applied_seq)
        == tuple_(bindparam("read_ms"), bindparam("read_seq")),
    )
    .values(
        status=bindparam("new_status"),
        status_reason=bindparam("reason"),
        applied_ms=bindparam("ms"),
        applied_seq=bindparam("seq"),
        applied_outcome=bindparam("outcome"),
        updated_at=bindparam("now"),
    )
)


@dataclass(frozen=True, slots=True)
class Applied:
    """The result of applying an activation command: its outcome and the package's state after it."""

    outcome: Outcome
    status: PackageStatus
    applied: StreamId
    # Why the service set this status (e.g. "queue-limit"); None when the customer did.
    reason: str | None = None


@dataclass(slots=True)
class PackageRow:
    """A package as read for a batch, then as the batch's commands leave it, one after the other."""

    status: PackageStatus
    applied: StreamId
    outcome: Outcome
    read: StreamId
    reason: str | None = None
    changed: bool = False


async def apply_activations(
    storage: Transactions | AsyncEngine, commands: Sequence[tuple[StreamId, ChangeActivation]]
) -> list[Applied]:
    """Apply commands given in stream order; one Applied per command, in the same order.

    The worker passes its Transactions (domain/transactions.py: one hand-off to SQLite's thread); an
    engine works too, its statements awaited one by one."""
    transactions = OnTheLoop(storage) if isinstance(storage, AsyncEngine) else storage

    async def once() -> list[Applied]:
        return await transactions.run(lambda conn: _apply(conn, commands))

    try:
        # Nearly always the only try; tenacity's bookkeeping would cost as much as a small batch's SQL.
        return await once()
    except _COLLISIONS:
        await asyncio.sleep(_pause(1))
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(_COLLISIONS),
        stop=stop_after_attempt(ATTEMPTS - 1),
        wait=lambda state: _pause(state.attempt_number + 1),
        reraise=True,
    )
    return await retrying(once)


def _pause(attempt: int) -> float:
    """A random pause, longer with every attempt, so that workers that collided do not collide again in
    step."""
    return random.uniform(0, RETRY_PAUSE_S * attempt)


def _apply(conn: Connection, commands: Sequence[tuple[StreamId, ChangeActivation]]) -> list[Applied]:
    rows = _read(conn, sorted({command.package_id for _, command in commands}))
    results = [decide(rows.get(command.package_id), entry, command) for entry, command in commands]
    writes = [_write_params(package_id, row) for package_id, row in rows.items() if row.changed]
    if writes:
        result = conn.execute(_WRITE, writes)
        if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(writes):
            raise ConcurrentChange()
    return results


def _read(conn: Connection, package_ids: list[int]) -> dict[int, PackageRow]:
    rows = conn.execute(_READ, {"ids": package_ids})
    return {
        r.id: PackageRow(
            PackageStatus(r.status),
            StreamId(r.applied_ms, r.applied_seq),
            Outcome(r.applied_outcome),
            StreamId(r.applied_ms, r.applied_seq),
            r.status_reason,
        )
        for r in rows
    }


def decide(row: PackageRow | None, entry: StreamId, command: ChangeActivation) -> Applied:
    """One command against the package as the commands before it left it; updates `row` when it wins."""
    if row is None:
        return Applied(Outcome.MISSING, command.target, entry)
    if row.applied < entry:
        outcome = Outcome.ALREADY if row.status is command.target else Outcome.COMPLETED
        row.status, row.applied, row.outcome = command.target, entry, outcome
        row.reason, row.changed = command.reason or None, True
        return Applied(outcome, command.target, entry, row.reason)
    if row.applied == entry:  # delivered again: answer as the first time
        return Applied(row.outcome, row.status, row.applied, row.reason)
    # Superseded: a newer command already decided the status; this one took effect just before it.
    outcome = Outcome.ALREADY if row.status is command.target else Outcome.COMPLETED
    return Applied(outcome, row.status, row.applied, row.reason)


def _write_params(package_id: int, row: PackageRow) -> dict[str, object]:
    return {
        "package_id": package_id,
        "read_ms": row.read.ms,
        "read_seq": row.read.seq,
        "new_status": row.status.value,
        "reason": row.reason,
        "ms": row.applied.ms,
        "seq": row.applied.seq,
        "outcome": row.outcome.value,
        "now": utcnow(),
    }
