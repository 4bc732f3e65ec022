"""the prediction log: segments and the request-id index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_segments",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=100), nullable=False),
        sa.Column("batch", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("oid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_prediction_segments_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_prediction_segments")),
        sa.UniqueConstraint("id", name=op.f("uq_prediction_segments_id")),
        sa.UniqueConstraint(
            "project_pk", "endpoint", "gateway", "batch", name="uq_prediction_segments_batch"
        ),
    )
    op.create_index(
        "ix_prediction_segments_endpoint_last_at",
        "prediction_segments",
        ["project_pk", "endpoint", "last_at"],
        unique=False,
    )
    op.create_table(
        "prediction_index",
        sa.Column("request_key", sa.BigInteger(), nullable=False),
        sa.Column("segment_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "request_key", "segment_pk", "position", name="pk_prediction_index"
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("prediction_index")
    op.drop_index("ix_prediction_segments_endpoint_last_at", table_name="prediction_segments")
    op.drop_table("prediction_segments")
