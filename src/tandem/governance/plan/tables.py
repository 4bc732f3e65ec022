"""The plan's tables: brief versions, success criteria, the RACI matrix and the gate policies
project-as-code writes. Private to this domain (and to gc, which purges them with their
project)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
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

# A project's own additions to a stage's gate: who signs (A, or A and R) and extra items.
gate_policies = Table(
    "gate_policies",
    metadata,
    Column("project_pk", Integer, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("body", Text, nullable=False),  # JSON: GatePolicy
    PrimaryKeyConstraint("project_pk", "stage"),
)
