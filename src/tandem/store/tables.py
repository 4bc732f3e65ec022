"""Infrastructure tables shared by every domain."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from tandem.store.base import metadata

# Every blob the store has been asked to keep. gc sweeps the ones no domain references any more,
# after a grace period, so an upload whose reference is not yet committed is never swept.
blobs = Table(
    "blobs",
    metadata,
    Column("oid", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# The bytes each user has uploaded (artifacts, dataset files, models), for the per-user storage
# quota (TANDEM_USER_QUOTA_BYTES): one row per user and content, so the same content uploaded
# again by its user counts once; gc deletes the rows of a blob it deletes.
upload_usage = Table(
    "upload_usage",
    metadata,
    Column("user", String(250), primary_key=True),
    Column("oid", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_upload_usage_oid", "oid"),
)
