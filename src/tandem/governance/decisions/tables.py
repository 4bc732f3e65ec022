"""Decision record tables. Private to this domain (gc purges them through `DecisionStore`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from tandem.store.base import metadata

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
