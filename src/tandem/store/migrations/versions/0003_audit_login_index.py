"""audit: index only sign-ins for the rate limit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:10:00

Every logged metric batch appends an audit event, so each index on the table costs every
logging request; the (action, target, at) index served only the sign-in rate limit. A partial
index on sign-ins alone serves it and leaves other inserts alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LOGINS = sa.text("action = 'auth.login'")


# Plain index operations, not batch mode: on SQLite a batch could copy the table, and the copy
# would lose the triggers that keep the audit log append-only.


def upgrade() -> None:
    op.drop_index("ix_audit_events_action_target_at", table_name="audit_events")
    op.create_index(
        "ix_audit_events_logins",
        "audit_events",
        ["target", "at"],
        unique=False,
        sqlite_where=_LOGINS,
        postgresql_where=_LOGINS,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_logins", table_name="audit_events")
    op.create_index("ix_audit_events_action_target_at", "audit_events", ["action", "target", "at"])
