"""An index on packages' usernames: an AMQP login names a username, not a package id (SPEC §9).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_packages_username", "packages", ["username"])


def downgrade() -> None:
    op.drop_index("ix_packages_username", table_name="packages")
