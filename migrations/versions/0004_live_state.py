"""Live state (SPEC §12): each fixture's scoreboard, and the incidents kept for the recovery window.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scoreboards",
        sa.Column("fixture_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("board", sa.LargeBinary(), nullable=False),
        sa.Column("last_incident_id", sa.BigInteger(), nullable=True),
        sa.Column("last_incident_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fixture_id"),
    )
    op.create_index("ix_scoreboards_status_updated", "scoreboards", ["status", "updated_at"])
    op.create_table(
        "incidents",
        sa.Column("fixture_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("fixture_id", "entry_ms", "entry_seq"),
    )
    op.create_index("ix_incidents_entry_ms", "incidents", ["entry_ms"])


def downgrade() -> None:
    op.drop_table("incidents")
    op.drop_table("scoreboards")
