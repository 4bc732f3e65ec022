"""monitors and their window results

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=300), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_monitors_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_monitors")),
        sa.UniqueConstraint("id", name=op.f("uq_monitors_id")),
        sa.UniqueConstraint("project_pk", "name", name="uq_monitors_project_name"),
    )
    op.create_index(
        "ix_monitors_project_endpoint", "monitors", ["project_pk", "endpoint"], unique=False
    )
    op.create_table(
        "monitor_results",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor_pk", sa.Integer(), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=300), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=True),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("band_low", sa.Float(), nullable=True),
        sa.Column("band_high", sa.Float(), nullable=True),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_pk"], ["monitors.pk"], name=op.f("fk_monitor_results_monitor_pk_monitors")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_monitor_results")),
        sa.UniqueConstraint("monitor_pk", "window_start", name="uq_monitor_results_window"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "monitor_claims",
        sa.Column("monitor_pk", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("worker", sa.String(length=250), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_pk"], ["monitors.pk"], name=op.f("fk_monitor_claims_monitor_pk_monitors")
        ),
        sa.PrimaryKeyConstraint("monitor_pk", "window_start", name="pk_monitor_claims"),
    )


def downgrade() -> None:
    op.drop_table("monitor_claims")
    op.drop_table("monitor_results")
    op.drop_index("ix_monitors_project_endpoint", table_name="monitors")
    op.drop_table("monitors")
