"""incidents, playbooks and postmortems; the registers' action items get a kind

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=True),
        sa.Column("open_endpoint", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("commander", sa.String(length=250), nullable=True),
        sa.Column("responders", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fingerprints", sa.Text(), nullable=False),
        sa.Column("playbook", sa.String(length=64), nullable=True),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("links", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", sa.String(length=250), nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=250), nullable=True),
        sa.Column("mitigated_at", sa.BigInteger(), nullable=True),
        sa.Column("mitigated_by", sa.String(length=250), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("resolved_by", sa.String(length=250), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_incidents_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_incidents")),
        sa.UniqueConstraint("project_pk", "number", name="uq_incidents_project_number"),
        sa.UniqueConstraint("project_pk", "open_endpoint", name="uq_incidents_open_endpoint"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_project_status", ["project_pk", "status"], unique=False)

    op.create_table(
        "playbooks",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_playbooks_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_playbooks")),
        sa.UniqueConstraint("project_pk", "kind", name="uq_playbooks_project_kind"),
    )
    op.create_table(
        "incident_entries",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_pk", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(length=500), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_pk"],
            ["incidents.pk"],
            name=op.f("fk_incident_entries_incident_pk_incidents"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_incident_entries")),
    )
    with op.batch_alter_table("incident_entries", schema=None) as batch_op:
        batch_op.create_index("ix_incident_entries_incident", ["incident_pk", "at"], unique=False)

    op.create_table(
        "postmortems",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_pk", sa.Integer(), nullable=False),
        sa.Column("project_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("submitted_by", sa.String(length=250), nullable=True),
        sa.Column("published_at", sa.BigInteger(), nullable=True),
        sa.Column("published_by", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_pk"], ["incidents.pk"], name=op.f("fk_postmortems_incident_pk_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["project_pk"], ["projects.pk"], name=op.f("fk_postmortems_project_pk_projects")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_postmortems")),
        sa.UniqueConstraint("incident_pk", name=op.f("uq_postmortems_incident_pk")),
    )
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.create_index("ix_postmortems_project", ["project_pk", "status"], unique=False)

    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_column("kind")

    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortems_project")

    op.drop_table("postmortems")
    with op.batch_alter_table("incident_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_entries_incident")

    op.drop_table("incident_entries")
    op.drop_table("playbooks")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_project_status")

    op.drop_table("incidents")
