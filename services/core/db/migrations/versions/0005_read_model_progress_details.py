"""read model: the latest progress tick's stage, fps and ETA, and a failed job's error code

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("stage", "fps", "eta_s", "progress_at", "error_code")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("stage", sa.String(length=50), nullable=True))
    op.add_column("jobs", sa.Column("fps", sa.Float(), nullable=True))
    op.add_column("jobs", sa.Column("eta_s", sa.Float(), nullable=True))
    op.add_column("jobs", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("error_code", sa.String(length=50), nullable=True))


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column("jobs", column)
