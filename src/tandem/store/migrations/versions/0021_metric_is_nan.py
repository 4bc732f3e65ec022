"""metrics.is_nan, latest_metrics.is_nan: a NaN metric point, stored as MLflow stores it (the
flag set beside the value 0; ADR 33)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("metrics", "latest_metrics"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("is_nan", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in ("metrics", "latest_metrics"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("is_nan")
