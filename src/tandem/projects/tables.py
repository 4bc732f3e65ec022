"""Project tables: projects, and who may do what in each (memberships). Users are identity's:
referred to by the string "users.pk", never by importing identity's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from tandem.store.base import metadata

projects = Table(
    "projects",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("user_pk", Integer, ForeignKey("users.pk"), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_pk", "user_pk"),
)
