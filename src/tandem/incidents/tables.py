"""The incidents domain's tables: incidents, their own timeline entries, the project's playbooks
and the postmortems. Private to this domain (and to gc, which purges them with their project)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import metadata

incidents = Table(
    "incidents",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("endpoint", String(64), nullable=True),
    # the endpoint while the incident is not resolved, NULL after: one open incident an endpoint
    Column("open_endpoint", String(64), nullable=True),
    Column("kind", String(64), nullable=True),
    Column("summary", Text, nullable=False),
    Column("commander", String(250), nullable=True),
    Column("responders", Text, nullable=False),  # JSON list of member names
    Column("source", String(16), nullable=False),  # manual | alert
    Column("fingerprints", Text, nullable=False),  # JSON list
    Column("playbook", String(64), nullable=True),
    Column("steps", Text, nullable=False),  # JSON list of TickedStep
    Column("links", Text, nullable=False),  # JSON list of references
    Column("opened_at", BigInteger, nullable=False),
    Column("opened_by", String(250), nullable=False),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("acknowledged_by", String(250), nullable=True),
    Column("mitigated_at", BigInteger, nullable=True),
    Column("mitigated_by", String(250), nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Column("resolved_by", String(250), nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_pk", "number", name="uq_incidents_project_number"),
    UniqueConstraint("project_pk", "open_endpoint", name="uq_incidents_open_endpoint"),
    Index("ix_incidents_project_status", "project_pk", "status"),
)

incident_entries = Table(
    "incident_entries",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("incident_pk", Integer, ForeignKey("incidents.pk"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),  # incident | alert
    Column("kind", String(32), nullable=False),
    Column("actor", String(250), nullable=True),
    Column("text", Text, nullable=False),
    Column("ref", String(500), nullable=True),
    Column("details", Text, nullable=False),  # JSON
    Index("ix_incident_entries_incident", "incident_pk", "at"),
)

playbooks = Table(
    "playbooks",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("steps", Text, nullable=False),  # JSON list of PlaybookStep
    Column("source", String(16), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "kind", name="uq_playbooks_project_kind"),
)

postmortems = Table(
    "postmortems",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("incident_pk", Integer, ForeignKey("incidents.pk"), nullable=False, unique=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),  # JSON: sections, action items, checklist
    Column("impact", Text, nullable=False),  # JSON: Impact
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    Column("submitted_at", BigInteger, nullable=True),
    Column("submitted_by", String(250), nullable=True),
    Column("published_at", BigInteger, nullable=True),
    Column("published_by", String(250), nullable=True),
    Index("ix_postmortems_project", "project_pk", "status"),
)
