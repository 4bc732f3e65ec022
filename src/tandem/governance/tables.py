"""Governance tables: brief versions, success criteria, the RACI matrix, gate policies and the
registers. Private to this domain (and to gc, which purges them with their project). Gates,
decision records and notifications keep theirs in their own packages."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import metadata

# Every saved version of a project's brief; the newest is the brief. Never updated in place.
brief_versions = Table(
    "brief_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: BriefText
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "version", name="uq_brief_versions_project_version"),
)

criteria = Table(
    "criteria",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("key", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("metric", String(250), nullable=False),
    Column("comparator", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("dataset", String(300), nullable=True),
    Column("slice", String(500), nullable=True),
    Column("owner", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "key", name="uq_criteria_project_key"),
)

raci = Table(
    "raci",
    metadata,
    Column("project_pk", Integer, nullable=False),
    Column("activity", String(64), nullable=False),
    Column("member", String(64), nullable=False),
    Column("letter", String(1), nullable=False),
    PrimaryKeyConstraint("project_pk", "activity", "member"),
)

hypotheses = Table(
    "hypotheses",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: HypothesisSet
    Column("status", String(16), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "number", name="uq_hypotheses_project_number"),
)

risks = Table(
    "risks",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: RiskSet
    Column("status", String(16), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("review_date", String(10), nullable=True),  # YYYY-MM-DD
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "number", name="uq_risks_project_number"),
)

retrospectives = Table(
    "retrospectives",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("format", String(32), nullable=False),
    Column("entries", Text, nullable=False),  # JSON: section -> notes
    Column("links", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "number", name="uq_retrospectives_project_number"),
)

action_items = Table(
    "action_items",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", String(1000), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("due", String(10), nullable=True),
    Column("status", String(16), nullable=False),
    Column("source", String(300), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("done_at", BigInteger, nullable=True),
    Column("done_by", String(250), nullable=True),
    UniqueConstraint("project_pk", "number", name="uq_action_items_project_number"),
    Index("ix_action_items_owner", "owner", "status"),
)

comments = Table(
    "comments",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("target", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("author", String(250), nullable=False),
    Column("mentions", Text, nullable=False),  # JSON list of member names
    Column("created_at", BigInteger, nullable=False),
    Index("ix_comments_target", "project_pk", "target"),
)

# A project's own additions to a stage's gate: who signs (A, or A and R) and extra items.
gate_policies = Table(
    "gate_policies",
    metadata,
    Column("project_pk", Integer, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("body", Text, nullable=False),  # JSON: GatePolicy
    PrimaryKeyConstraint("project_pk", "stage"),
)
