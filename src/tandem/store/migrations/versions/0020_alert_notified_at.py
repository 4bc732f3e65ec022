"""alerts.notified_at: when an alert was first notified to its responders (escalation counts
from it, not from the breach)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_at", sa.BigInteger(), nullable=True))
    # Alerts already routed to someone were notified when they fired (as escalation assumed).
    op.execute(
        "UPDATE alerts SET notified_at = fired_at WHERE fired_at IS NOT NULL AND recipients <> '[]'"
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("notified_at")
