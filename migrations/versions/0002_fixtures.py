"""Fixtures, and the index fixture updates use to find subscribed packages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fixtures",
        sa.Column("fixture_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sport_id", sa.Integer(), nullable=False),
        sa.Column("sport_name", sa.String(length=200), nullable=False),
        sa.Column("league_id", sa.Integer(), nullable=False),
        sa.Column("league_name", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("location_name", sa.String(length=200), nullable=False),
        sa.Column("participants", sa.String(), nullable=False),
        sa.Column("last_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("fixture_id"),
    )
    op.create_index("ix_fixtures_upcoming", "fixtures", ["status", "fixture_id"])
    op.create_index("ix_fixtures_sport_id", "fixtures", ["sport_id"])
    op.create_index("ix_fixtures_league_id", "fixtures", ["league_id"])
    op.create_index("ix_package_subscriptions_ref", "package_subscriptions", ["kind", "ref_id"])


def downgrade() -> None:
    op.drop_index("ix_package_subscriptions_ref", table_name="package_subscriptions")
    op.drop_table("fixtures")
