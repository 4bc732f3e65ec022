"""The audit table. Append-only: the migration adds triggers that refuse UPDATE and DELETE on
both databases, and no face has a route that edits it. Projects are named, not referenced, so
purging a project keeps its history."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, text

from tandem.store.base import metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("via", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("project", String(64), nullable=True),
    Column("target", String(1024), nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_audit_events_project_at", "project", "at"),
    Index("ix_audit_events_at", "at"),
    # sign-in rate limiting counts recent failed sign-ins per name: only those rows are indexed
    Index(
        "ix_audit_events_logins",
        "target",
        "at",
        sqlite_where=text("action = 'auth.login'"),
        postgresql_where=text("action = 'auth.login'"),
    ),
)
