"""The registers' tables: hypotheses, risks, retrospectives, action items and comments. Private
to this domain (and to gc, which purges them with their project)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import metadata

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
    Column("kind", String(16), nullable=True),  # postmortems: mitigate | prevent | process
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
