"""alerts, silences, routing and deliveries

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursors")),
    )
    op.create_table(
        "alert_engine_state",
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_alert_engine_state_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("project_pk", name=op.f("pk_alert_engine_state")),
    )
    op.create_table(
        "alert_settings",
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("group_by", sa.Text(), nullable=False),
        sa.Column("group_wait_s", sa.Integer(), nullable=False),
        sa.Column("group_interval_s", sa.Integer(), nullable=False),
        sa.Column("repeat_interval_s", sa.Integer(), nullable=False),
        sa.Column("escalate_after_s", sa.Integer(), nullable=False),
        sa.Column("pagerduty_url", sa.String(length=2000), nullable=False),
        sa.Column("pagerduty_routing_key", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_alert_settings_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("project_pk", name=op.f("pk_alert_settings")),
    )
    op.create_table(
        "alert_silences",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=250), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expired_at", sa.BigInteger(), nullable=True),
        sa.Column("expired_by", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_alert_silences_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alert_silences")),
        sa.UniqueConstraint("id", name="uq_alert_silences_id"),
    )
    op.create_index(
        "ix_alert_silences_project_ends", "alert_silences", ["project_pk", "ends_at"], unique=False
    )

    op.create_table(
        "alerts",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=True),
        sa.Column("ends_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("acked_by", sa.String(length=250), nullable=True),
        sa.Column("acked_at", sa.BigInteger(), nullable=True),
        sa.Column("escalated_at", sa.BigInteger(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("incident", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_alerts_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alerts")),
        sa.UniqueConstraint("id", name="uq_alerts_id"),
        sa.UniqueConstraint("project_pk", "fingerprint", "starts_at", name="uq_alerts_firing"),
    )
    op.create_index(
        "ix_alerts_project_state", "alerts", ["project_pk", "state", "pk"], unique=False
    )

    op.create_table(
        "alert_deliveries",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("alert_pk", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_pk"], ["alerts.pk"], name=op.f("fk_alert_deliveries_alert_pk_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_alert_deliveries_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("id", name="uq_alert_deliveries_id"),
    )
    op.create_index(
        "ix_alert_deliveries_due", "alert_deliveries", ["state", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_alert_deliveries_project", "alert_deliveries", ["project_pk", "pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_project", table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")

    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_project_state", table_name="alerts")

    op.drop_table("alerts")
    op.drop_index("ix_alert_silences_project_ends", table_name="alert_silences")

    op.drop_table("alert_silences")
    op.drop_table("alert_settings")
    op.drop_table("alert_engine_state")
    op.drop_table("alert_cursors")
