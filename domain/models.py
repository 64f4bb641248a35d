"""SQL tables, as SQLModel classes; migrations/ creates them."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, String
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Package(SQLModel, table=True):
    __tablename__ = "packages"

    # The customer's packageId; ids come from the feed, never generated here.
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    # Indexed: the broker-auth process finds every package of an AMQP login's username (SPEC §9).
    username: str = Field(max_length=320, index=True)
    # Argon2id, in the PHC string format argon2-cffi writes.
    password_hash: str = Field(max_length=256)
    # A random token replaced on every password change, so that remembered logins are dropped at once.
    credential_version: str = Field(max_length=64)
    status: str = Field(default="inactive", max_length=16)
    # Why the service (not the customer) deactivated the package, e.g. its queue overflowed.
    status_reason: str | None = Field(default=None, max_length=64)
    # Stream id (ms, seq) of the last activation command applied, for last-writer-wins (SPEC §3).
    applied_ms: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    applied_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    # Outcome of that command, so a redelivery answers exactly as the first delivery did.
    applied_outcome: str = Field(default="completed", sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PackageSubscription(SQLModel, table=True):
    """A sport or a league a package subscribes to; a package with none subscribes to everything."""

    __tablename__ = "package_subscriptions"
    # A fixture update looks up the packages subscribed to its sport or its league.
    __table_args__ = (Index("ix_package_subscriptions_ref", "kind", "ref_id"),)

    package_id: int = Field(foreign_key="packages.id", primary_key=True, ondelete="CASCADE")
    # "sport" or "league".
    kind: str = Field(primary_key=True, max_length=8)
    ref_id: int = Field(primary_key=True)


class StoredFixture(SQLModel, table=True):
    """A fixture: queryable columns for snapshots and updates, plus its body exactly as published."""

    __tablename__ = "fixtures"
    # Snapshots read "upcoming, in id order, after the last id sent" — this index answers it directly.
    __table_args__ = (Index("ix_fixtures_upcoming", "status", "fixture_id"),)

    fixture_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: int
    start_date: datetime
    sport_id: int = Field(index=True)
    sport_name: str = Field(max_length=200)
    league_id: int = Field(index=True)
    league_name: str = Field(max_length=200)
    location_id: int
    location_name: str = Field(max_length=200)
    # [{"id", "name", "position"}], as JSON text.
    participants: str
    last_update: datetime
    # The fixture as the queues carry it, encoded once when stored: a snapshot of 100,000 fixtures then
    # only wraps stored bytes in envelopes instead of rebuilding every message from columns.
    body: bytes


class StoredScoreboard(SQLModel, table=True):
    """A fixture's live state (SPEC §12): its board as domain/scoreboard.py encodes it, one row each."""

    __tablename__ = "scoreboards"
    # Housekeeping drops the boards of fixtures over (statuses 3-8) once older than the recovery window;
    # the initial image and pull will read the boards in progress by status.
    __table_args__ = (Index("ix_scoreboards_status_updated", "status", "updated_at"),)

    fixture_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The board's fixture status, kept as a column so that boards can be chosen without decoding them.
    status: int
    board: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # The last incident applied and its stream entry's append time (null before any incident).
    last_incident_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_incident_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # When the row was last written (this machine's clock): the recovery window counts from it.
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class KeptIncident(SQLModel, table=True):
    """An incident as it was delivered, kept for the recovery window (SPEC §10, §12).

    The primary key, fixture then stream entry id, is what recovery reads: one fixture's incidents appended
    after a time, in order. Keeping an incident twice is impossible by it (a repeated round inserts nothing).
    """

    __tablename__ = "incidents"
    # Housekeeping drops incidents older than the recovery window, by append time across all fixtures.
    __table_args__ = (Index("ix_incidents_entry_ms", "entry_ms"),)

    fixture_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The `livescore:incidents` entry id as two integers; `entry_ms` is its append time (Redis's clock).
    entry_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry_seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The body exactly as it came upstream.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
