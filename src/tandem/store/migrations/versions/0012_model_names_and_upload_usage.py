"""model names unique but for case; bytes each user uploaded

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:40:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    # Models whose names differ only by case were two models before this revision: the older
    # keeps its name, a newer one is renamed NAME-renamed-PK (logged), so the index can hold.
    conn = op.get_bind()
    seen: set[tuple[int, str]] = set()
    rows = conn.execute(sa.text("SELECT pk, project_pk, name FROM registered_models ORDER BY pk"))
    for pk, project_pk, name in rows.all():
        key = (project_pk, name.lower())
        if key not in seen:
            seen.add(key)
            continue
        renamed = f"{name[:100]}-renamed-{pk}"
        log.warning("model %r (pk %s) differs from another only by case: renamed %r", name, pk,
                    renamed)  # fmt: skip
        conn.execute(
            sa.text("UPDATE registered_models SET name = :name WHERE pk = :pk"),
            {"name": renamed, "pk": pk},
        )
    op.create_index(
        "uq_registered_models_project_lower_name",
        "registered_models",
        ["project_pk", sa.text("lower(name)")],
        unique=True,
    )
    op.create_table(
        "upload_usage",
        sa.Column("user", sa.String(length=250), nullable=False),
        sa.Column("oid", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user", "oid", name=op.f("pk_upload_usage")),
    )
    op.create_index(op.f("ix_upload_usage_oid"), "upload_usage", ["oid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_upload_usage_oid"), table_name="upload_usage")
    op.drop_table("upload_usage")
    op.drop_index("uq_registered_models_project_lower_name", table_name="registered_models")
