"""ingest: a lease on each tus upload instead of a session advisory lock

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("lease_holder", sa.String(64), nullable=True))
    op.add_column(
        "uploads", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("uploads", "lease_expires_at")
    op.drop_column("uploads", "lease_holder")
