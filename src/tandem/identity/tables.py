"""Identity tables: users, their API tokens and web sessions (which projects a user is a member of
is the projects domain's, `tandem.projects.tables`). Secrets are never stored: tokens and session
ids as SHA-256 (they are 256 random bits, so a fast hash is enough), passwords as argon2id."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

from tandem.store.base import metadata

users = Table(
    "users",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("display_name", String(250), nullable=False, default=""),
    Column("email", String(320), nullable=False, default=""),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("user_pk", Integer, ForeignKey("users.pk"), nullable=False, index=True),
    Column("name", String(250), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_pk", Integer, ForeignKey("users.pk"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
