from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

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
