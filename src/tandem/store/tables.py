"""Infrastructure tables shared by every domain."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

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
