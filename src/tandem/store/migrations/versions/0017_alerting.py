"""alerts, silences, routing and deliveries

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the alerting domain's tables: its lane writes them here


def downgrade() -> None:
    pass
