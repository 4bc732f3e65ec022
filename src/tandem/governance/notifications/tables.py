"""Notification tables. Private to this domain (gc purges them through `NotificationStore`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from tandem.store.base import metadata

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
