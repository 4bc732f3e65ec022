"""labels and business KPIs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcome_label_batches",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("oid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"],
            ["projects.pk"],
            name=op.f("fk_outcome_label_batches_project_pk_projects"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_outcome_label_batches")),
        sa.UniqueConstraint("id", name=op.f("uq_outcome_label_batches_id")),
    )
    op.create_index(
        "ix_outcome_label_batches_endpoint",
        "outcome_label_batches",
        ["project_pk", "endpoint"],
        unique=False,
    )
    op.create_table(
        "outcome_label_windows",
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("batch_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_pk"],
            ["outcome_label_batches.pk"],
            name=op.f("fk_outcome_label_windows_batch_pk_outcome_label_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_pk", "endpoint", "window_start", "batch_pk", name="pk_outcome_label_windows"
        ),
    )
    op.create_index(
        "ix_outcome_label_windows_batch", "outcome_label_windows", ["batch_pk"], unique=False
    )
    op.create_table(
        "outcome_windows",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_outcome_windows_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_outcome_windows")),
        sa.UniqueConstraint(
            "project_pk", "endpoint", "model", "version", "window_start", name="uq_outcome_windows"
        ),
    )
    op.create_index(
        "ix_outcome_windows_updated",
        "outcome_windows",
        ["project_pk", "endpoint", "updated_at"],
        unique=False,
    )
    op.create_index(
        "ix_outcome_windows_start",
        "outcome_windows",
        ["project_pk", "endpoint", "window_start"],
        unique=False,
    )
    op.create_table(
        "outcome_kpis",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_outcome_kpis_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_outcome_kpis")),
    )
    op.create_index(
        "ix_outcome_kpis_endpoint_at",
        "outcome_kpis",
        ["project_pk", "endpoint", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_outcome_kpis_endpoint_at", table_name="outcome_kpis")
    op.drop_table("outcome_kpis")
    op.drop_index("ix_outcome_windows_start", table_name="outcome_windows")
    op.drop_index("ix_outcome_windows_updated", table_name="outcome_windows")
    op.drop_table("outcome_windows")
    op.drop_index("ix_outcome_label_windows_batch", table_name="outcome_label_windows")
    op.drop_table("outcome_label_windows")
    op.drop_index("ix_outcome_label_batches_endpoint", table_name="outcome_label_batches")
    op.drop_table("outcome_label_batches")
