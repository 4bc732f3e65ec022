"""Governance tables: gates, sign-offs, waivers, decision records, notifications and webhooks.
Private to this domain (and to gc, which purges them with their project). The plan's tables are
in `tandem.governance.plan.tables`, the registers' in `tandem.governance.registers.tables`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import metadata

# A requested move of a model version to another stage, with what it needs to pass.
gates = Table(
    "gates",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, nullable=False),
    Column("model_version_pk", Integer, nullable=False),
    Column("from_stage", String(32), nullable=False),
    Column("to_stage", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # open, passed, rejected, cancelled
    Column("opened_at", BigInteger, nullable=False),
    Column("opened_by", String(250), nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Column("closed_by", String(250), nullable=True),
    Column("reason", Text, nullable=False),
    Column("outcome", Text, nullable=True),  # JSON: the checklist as it stood when it closed
    Index("ix_gates_version", "model_version_pk", "status"),
    Index("ix_gates_project", "project_pk", "status"),
)

# One member's approval or rejection of a gate: at most one each (the key stops a race).
gate_signoffs = Table(
    "gate_signoffs",
    metadata,
    Column("gate_pk", Integer, nullable=False),
    Column("member", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("letter", String(1), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint("gate_pk", "member"),
)

# A criterion waived for one model version by its owner role, with the decision that says why.
criterion_waivers = Table(
    "criterion_waivers",
    metadata,
    Column("model_version_pk", Integer, nullable=False),
    Column("criterion", String(64), nullable=False),
    Column("decision_pk", Integer, nullable=False),
    Column("waived_by", String(250), nullable=False),
    Column("role", String(32), nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint("model_version_pk", "criterion"),
)

# Decision records (ADR style); immutable once accepted, superseded by a newer one.
decisions = Table(
    "decisions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("context", Text, nullable=False),
    Column("options", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("consequences", Text, nullable=False),
    Column("status", String(16), nullable=False),  # proposed, accepted, superseded
    Column("links", Text, nullable=False),  # JSON list of references
    Column("approvers", Text, nullable=False),  # JSON list of member names
    Column("superseded_by", Integer, nullable=True),  # the number of the one that replaced it
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("accepted_at", BigInteger, nullable=True),
    UniqueConstraint("project_pk", "number", name="uq_decisions_project_number"),
)

# What a member is told: in the web UI until read, and by the project's webhook when set.
notifications = Table(
    "notifications",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("member", String(64), nullable=False),
    Column("project_pk", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("link", String(500), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("read_at", BigInteger, nullable=True),
    Index("ix_notifications_member", "member", "read_at"),
)

project_webhooks = Table(
    "project_webhooks",
    metadata,
    Column("project_pk", Integer, primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

# A project-specific checklist item attested on one gate by a member of the role it names.
gate_attestations = Table(
    "gate_attestations",
    metadata,
    Column("gate_pk", Integer, nullable=False),
    Column("item", String(64), nullable=False),
    Column("member", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint("gate_pk", "item"),
)
