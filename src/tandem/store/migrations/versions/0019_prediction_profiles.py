"""prediction_profiles: mergeable profiles of the prediction log per 5-minute bucket

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_profiles",
        sa.Column("segment_pk", sa.Integer(), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "segment_pk", "model", "version", "bucket_start", name="pk_prediction_profiles"
        ),
    )
    op.create_index(
        "ix_prediction_profiles_endpoint_bucket",
        "prediction_profiles",
        ["project_pk", "endpoint", "bucket_start"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_prediction_profiles_endpoint_bucket", table_name="prediction_profiles")
    op.drop_table("prediction_profiles")
