"""Gate tables: gates, their sign-offs and attestations, and criterion waivers. Private to this
domain (gc purges them through `GateStore`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

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
