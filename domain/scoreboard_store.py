"""Live state in storage (SPEC §12): the fixtures' scoreboards and the incidents kept for recovery.

Two writers meet on a board: the owner of the fixture's incident partition (a round of incidents) and
whichever worker applies a fixture update. Each reads the board inside its write transaction, after
taking the fixture row's lock (PostgreSQL: FOR SHARE here, the update's own upsert there; SQLite: the
database's write lock, which the round's transaction takes at BEGIN IMMEDIATE and the update's at its
first upsert), so neither can lose the other's change.

A round is written synchronously over a `Connection`: domain/transactions.py runs it with the fewest
hand-offs the driver allows (on SQLite, at once on the event loop when the database is free).
"""

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Insert, Select, bindparam, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.commands import StreamId
from domain.fixtures import UPCOMING, Fixture, FixtureStatus, decode_fixture
from domain.models import KeptIncident, StoredFixture, StoredScoreboard
from domain.scoreboard import (
    Scoreboard,
    apply_fixture,
    apply_incident,
    decode_scoreboard,
    encode_scoreboard,
    in_progress,
    start,
)
from domain.subscriptions import subscriptions

# Statuses of fixtures that are over (SPEC §4: finished, cancelled, postponed, …): their boards are kept
# for the recovery window after their last change, then dropped.
OVER = range(3, 9)


class Delivered(NamedTuple):
    """An incident as a round hands it to storage: its stream entry, fixture and body as it came."""

    entry_id: StreamId
    fixture_id: int
    body: bytes


def appended_at(entry_id: StreamId) -> datetime:
    """When the incident was appended upstream: its stream entry's time (Redis's clock)."""
    return datetime.fromtimestamp(entry_id.ms / 1000, UTC)


def fold(boards: Mapping[int, Scoreboard], incidents: Iterable[Delivered]) -> dict[int, Scoreboard]:
    """The boards after these incidents, in the order given; a board the incidents left as it was (a
    repeated round) is the same object."""
    folded = dict(boards)
    for item in incidents:
        board = folded.get(item.fixture_id)
        if board is not None:
            folded[item.fixture_id] = apply_incident(
                board, msgspec.json.decode(item.body), appended_at(item.entry_id)
            )
    return folded


def keep_round(conn: Connection, incidents: Sequence[Delivered], set_sports: Collection[int]) -> int:
    """Keep a round's incidents and fold them into their fixtures' boards, in the caller's transaction;
    returns how many boards changed. A repeated round inserts and changes nothing."""
    if not incidents:
        return 0
    statements = _statements(conn.dialect.name)
    conn.execute(statements.keep, [_kept_row(item) for item in incidents])
    held = _boards_for(conn, {item.fixture_id for item in incidents}, set_sports)
    folded = fold(held, incidents)
    changed = [board for fixture_id, board in folded.items() if board is not held.get(fixture_id)]
    if changed:
        conn.execute(statements.upsert_boards, [_board_row(board) for board in changed])
    return len(changed)


def _boards_for(
    conn: Connection, fixture_ids: Collection[int], set_sports: Collection[int]
) -> dict[int, Scoreboard]:
    """The boards of these fixtures, each with its stored fixture applied, in one query; a fixture with no
    board yet gets a new one, started from the stored fixture. The fixture rows are locked for sharing
    (PostgreSQL), in id order, so that a fixture update waits for this round or this round for it."""
    rows = conn.execute(_statements(conn.dialect.name).boards, {"ids": sorted(fixture_ids)})
    return {
        fixture_id: _held(
            decode_fixture(fixture), decode_scoreboard(board) if board is not None else None, set_sports
        )
        for fixture_id, fixture, board in rows
    }


def _held(fixture: Fixture, stored: Scoreboard | None, set_sports: Collection[int]) -> Scoreboard:
    """The board a round starts from: the stored one, brought up to the stored fixture (a fixture imported
    by the command line reaches the board this way), or a new one."""
    if stored is None:
        return start(fixture, set_sports)
    return stored if stored.fixture == fixture else apply_fixture(stored, fixture)


def apply_update(conn: Connection, fixture: Fixture) -> bool:
    """A stored fixture update applied to the fixture's board, if it has one (a board is started by the
    fixture's first incident); in the caller's transaction, after the fixture was stored (which holds its
    row). Returns whether a board changed."""
    query = select(col(StoredScoreboard.board)).where(col(StoredScoreboard.fixture_id) == fixture.fixture_id)
    stored = conn.execute(query).scalar_one_or_none()
    if stored is None:
        return False
    board = decode_scoreboard(stored)
    if board.fixture == fixture:
        return False
    updated = apply_fixture(board, fixture)
    if updated is board:
        return False
    conn.execute(_statements(conn.dialect.name).upsert_boards, [_board_row(updated)])
    return True


async def trim_incidents(conn: AsyncConnection, since: datetime, batch: int) -> int:
    """Drop about `batch` of the oldest incidents appended before `since` (more only when several share
    the last one's millisecond); returns how many. A trim after a long pause is a series of these, so no
    transaction holds the write lock for long."""
    since_ms = int(since.timestamp() * 1000)
    older = col(KeptIncident.entry_ms) < since_ms
    last = select(col(KeptIncident.entry_ms)).where(older).order_by(col(KeptIncident.entry_ms))
    upto = (await conn.execute(last.offset(batch - 1).limit(1))).scalar_one_or_none()
    within = col(KeptIncident.entry_ms) <= upto if upto is not None else older
    return _count(await conn.execute(delete(KeptIncident).where(older, within)))


async def trim_boards(conn: AsyncConnection, since: datetime) -> int:
    """Drop the boards of fixtures that are over and were last changed before `since`; returns how many."""
    over = col(StoredScoreboard.status).in_(list(OVER))
    return _count(
        await conn.execute(delete(StoredScoreboard).where(over, col(StoredScoreboard.updated_at) < since))
    )


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


async def stored_boards(
    conn: AsyncConnection, fixture_ids: Iterable[int] | None = None
) -> dict[int, Scoreboard]:
    """The stored boards (of these fixtures, or all), as they are."""
    query = select(col(StoredScoreboard.fixture_id), col(StoredScoreboard.board))
    if fixture_ids is not None:
        query = query.where(col(StoredScoreboard.fixture_id).in_(list(fixture_ids)))
    return {fixture_id: decode_scoreboard(board) for fixture_id, board in await conn.execute(query)}


def live_boards(conn: Connection, sports: Sequence[int], leagues: Sequence[int]) -> list[Scoreboard]:
    """The boards of the fixtures in progress (SPEC §12: status 2, or 1 or 9 with an incident) that these
    subscriptions take (none: everything), by fixture id: what pull answers and the initial image sends."""
    board, fixture = StoredScoreboard, StoredFixture
    started = col(board.status).in_([int(status) for status in UPCOMING])
    query = (
        select(col(board.board))
        .join(fixture, col(fixture.fixture_id) == col(board.fixture_id))
        .where(
            or_(
                col(board.status) == int(FixtureStatus.IN_PROGRESS),
                started & col(board.last_incident_id).is_not(None),
            )
        )
    )
    if sports or leagues:
        query = query.where(or_(col(fixture.sport_id).in_(sports), col(fixture.league_id).in_(leagues)))
    rows = conn.execute(query.order_by(col(board.fixture_id)))
    # The status column and the board agree; in_progress is the rule's one definition.
    return [found for (data,) in rows if in_progress(found := decode_scoreboard(data))]


async def package_live_boards(conn: AsyncConnection, package_id: int) -> list[Scoreboard]:
    """The live boards a package's subscriptions take (pull, `livescore watch`)."""
    return await conn.run_sync(lambda sync: live_boards(sync, *subscriptions(sync, package_id)))


async def latest_kept_incident(conn: AsyncConnection, fixture_id: int) -> dict[str, Any] | None:
    """The body of the fixture's latest kept incident, by stream order (the console's "last incident")."""
    query = (
        select(col(KeptIncident.body))
        .where(col(KeptIncident.fixture_id) == fixture_id)
        .order_by(col(KeptIncident.entry_ms).desc(), col(KeptIncident.entry_seq).desc())
        .limit(1)
    )
    body = (await conn.execute(query)).scalar_one_or_none()
    return None if body is None else msgspec.json.decode(bytes(body))


async def kept_incidents(conn: AsyncConnection, fixture_id: int) -> list[Delivered]:
    """A fixture's kept incidents, in stream order."""
    query = (
        select(col(KeptIncident.entry_ms), col(KeptIncident.entry_seq), col(KeptIncident.body))
        .where(col(KeptIncident.fixture_id) == fixture_id)
        .order_by(col(KeptIncident.entry_ms), col(KeptIncident.entry_seq))
    )
    return [
        Delivered(StreamId(ms, seq), fixture_id, bytes(body)) for ms, seq, body in await conn.execute(query)
    ]


def incidents_after(conn: Connection, fixture_ids: Collection[int], after_ms: int) -> dict[int, list[bytes]]:
    """Per fixture, the bodies of its kept incidents appended after `after_ms` (stream entry time), in
    stream order: what a recovery sends again."""
    kept = KeptIncident
    query = (
        select(col(kept.fixture_id), col(kept.body))
        .where(col(kept.fixture_id).in_(sorted(fixture_ids)), col(kept.entry_ms) > after_ms)
        .order_by(col(kept.fixture_id), col(kept.entry_ms), col(kept.entry_seq))
    )
    found: dict[int, list[bytes]] = {}
    for fixture_id, body in conn.execute(query) if fixture_ids else []:
        found.setdefault(fixture_id, []).append(bytes(body))
    return found


class _Statements(NamedTuple):
    keep: Insert
    boards: Select[int, bytes, bytes]
    upsert_boards: Insert


@functools.cache
def _statements(dialect_name: str) -> _Statements:
    """A round's statements, built once per dialect: building them each round cost SQLAlchemy about as
    much as running them."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    keep = dialect.insert(KeptIncident).on_conflict_do_nothing()
    boards = (
        select(col(StoredFixture.fixture_id), col(StoredFixture.body), col(StoredScoreboard.board))
        .select_from(StoredFixture)
        .outerjoin(StoredScoreboard, col(StoredScoreboard.fixture_id) == col(StoredFixture.fixture_id))
        .where(col(StoredFixture.fixture_id).in_(bindparam("ids", expanding=True)))
        .order_by(col(StoredFixture.fixture_id))
        .with_for_update(read=True, of=StoredFixture)
    )
    stmt = dialect.insert(StoredScoreboard)
    columns = ("status", "board", "last_incident_id", "last_incident_at", "updated_at")
    upsert = stmt.on_conflict_do_update(
        index_elements=["fixture_id"], set_={c: stmt.excluded[c] for c in columns}
    )
    return _Statements(keep, boards, upsert)


def _kept_row(item: Delivered) -> dict[str, object]:
    return {
        "fixture_id": item.fixture_id,
        "entry_ms": item.entry_id.ms,
        "entry_seq": item.entry_id.seq,
        "body": item.body,
    }


def _board_row(board: Scoreboard) -> dict[str, object]:
    return {
        "fixture_id": board.fixture.fixture_id,
        "status": int(board.fixture.status),
        "board": encode_scoreboard(board),
        "last_incident_id": board.last_incident_id,
        "last_incident_at": board.appended_at,
        "updated_at": datetime.now(UTC),
    }
