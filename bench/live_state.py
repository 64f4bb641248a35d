"""What the live state costs in storage: rows and bytes per 1,000 incidents kept, and the time of a round.

`python -m bench.live_state [DATABASE_URL]` keeps recorded demo match days (cli/match_day.py, every sport)
round by round, as the incident owner does, into a fresh database (a new SQLite file when no URL is given;
a PostgreSQL URL names a server whose database `livescore_bench_live_state` is made and dropped). It prints
the rows and the bytes they take (SQLite: the file and its WAL after a checkpoint; PostgreSQL:
pg_total_relation_size of the two tables, indexes and TOAST included), per 1,000 incidents.
"""

import asyncio
import functools
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import msgspec
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cli.match_day import SPORTS, match_day, pick_matches
from domain.commands import StreamId
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, FixtureStatus
from domain.incidents import encode_incident
from domain.models import KeptIncident, StoredScoreboard
from domain.scoreboard_store import Delivered, keep_round
from domain.settings import DEFAULT_SET_SPORTS
from domain.storage import open_engine
from domain.transactions import open_transactions
from migrations import schema

# Match days of 8 fixtures and about 800 incidents each: 13 make about 10,000 incidents.
DAYS = 13
# Incidents per round: what a worker's round holds at 200 incidents/s (a round every few ms).
PER_ROUND = 2
DATABASE = "livescore_bench_live_state"


async def measure(database_url: str, size: "Size") -> None:
    engine = open_engine(database_url)
    days = [recorded(seed) for seed in range(1, DAYS + 1)]
    async with engine.begin() as conn:
        await store_fixtures(conn, [f for fixtures, _ in days for f in fixtures])
    before = await size(engine)
    incidents = _interleaved([day for _, day in days])
    transactions = open_transactions(engine)
    started = time.perf_counter()
    for first in range(0, len(incidents), PER_ROUND):
        await transactions.run(functools.partial(_keep, incidents[first : first + PER_ROUND]))
    elapsed = time.perf_counter() - started
    after = await size(engine)
    async with engine.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(KeptIncident))).scalar_one()
        boards = (await conn.execute(select(func.count()).select_from(StoredScoreboard))).scalar_one()
        board_bytes = (await conn.execute(select(func.sum(func.length(StoredScoreboard.board))))).scalar_one()
        body_bytes = (await conn.execute(select(func.sum(func.length(KeptIncident.body))))).scalar_one()
    await transactions.close()
    await engine.dispose()
    per, rounds = 1000 / len(incidents), len(incidents) // PER_ROUND
    print(f"{engine.dialect.name}: {len(incidents):,} incidents of {boards} fixtures, {rounds:,} rounds")
    print(f"  rows per 1,000 incidents: {kept * per:,.0f} kept incidents, and one board per fixture")
    print(f"  bodies: {body_bytes / kept:,.0f} bytes each on average; boards: {board_bytes / boards:,.0f}")
    grown = after - before
    print(f"  bytes per 1,000 incidents: {grown * per:,.0f} ({grown / 1024:,.0f} KiB in all)")
    print(f"  a round of {PER_ROUND}: {elapsed / rounds * 1000:.2f} ms on average")


def _keep(batch: list[Delivered], conn: Connection) -> int:
    return keep_round(conn, batch, DEFAULT_SET_SPORTS)


def recorded(seed: int) -> tuple[list[Fixture], list[Delivered]]:
    """A demo match day of every sport: its fixtures in play and their incidents, a second apart."""
    began = datetime(2030, 1, 1, tzinfo=UTC)
    fixtures = [
        msgspec.structs.replace(f, status=FixtureStatus.IN_PROGRESS, last_update=began)
        for f in pick_matches(len(SPORTS), seed)
    ]
    first_ms = int(began.timestamp() * 1000)
    beats = [beat for beat in match_day(fixtures, seed) if beat.incident is not None]
    return fixtures, [
        Delivered(StreamId(first_ms + 1000 * n, 0), beat.fixture_id, encode_incident(beat.incident))
        for n, beat in enumerate(beats)
        if beat.incident is not None
    ]


def _interleaved(days: list[list[Delivered]]) -> list[Delivered]:
    """The days' incidents taken in turn, as a feed of many fixtures at once appends them."""
    return [day[n] for n in range(max(map(len, days))) for day in days if n < len(day)]


class Size(Protocol):
    async def __call__(self, engine: AsyncEngine) -> int: ...


class SQLiteFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def __call__(self, engine: AsyncEngine) -> int:
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return _file_bytes(self.path) + _file_bytes(Path(f"{self.path}-wal"))


class PostgresTables:
    async def __call__(self, engine: AsyncEngine) -> int:
        query = "SELECT pg_total_relation_size('incidents'), pg_total_relation_size('scoreboards')"
        async with engine.connect() as conn:
            incidents, boards = (await conn.execute(text(query))).one()
        print(f"  incidents table {incidents:,} bytes, scoreboards table {boards:,} bytes (indexes, TOAST)")
        return int(incidents + boards)


def _file_bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def _admin(server: str, statement: str) -> None:
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


def main() -> None:
    server = sys.argv[1] if len(sys.argv) > 1 else ""
    if not server.startswith("postgresql"):
        path = Path(tempfile.mkdtemp()) / "live-state.db"
        schema.upgrade(f"sqlite+aiosqlite:///{path}")
        asyncio.run(measure(f"sqlite+aiosqlite:///{path}", SQLiteFile(path)))
        return
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(server, f'CREATE DATABASE "{DATABASE}"'))
    url = server.rsplit("/", 1)[0] + "/" + DATABASE
    try:
        schema.upgrade(url)
        asyncio.run(measure(url, PostgresTables()))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE "{DATABASE}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
