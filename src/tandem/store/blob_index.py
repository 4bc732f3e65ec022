"""Which blobs the database knows, and which of them something still references.

Domains declare the columns that hold oids where they declare their tables (`info=BLOB_OID`,
see `tandem.store.base`: artifacts, dataset files, model version files). gc deletes a blob only
if no such column names it and its row was last touched before the grace cut-off; an upload
touches the row before it relies on the blob, so gc and uploads never race into a dangling
reference (see docs/adr/0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, and_, delete, exists, select

from tandem.errors import ServerError
from tandem.store.base import blob_oid_columns
from tandem.store.db import Database, driver_cursor
from tandem.store.tables import blobs


class BlobIndex:
    def __init__(self, db: Database, references: Sequence[Column[Any]] | None = None) -> None:
        """`references`: the columns that hold blob oids (default: every one the domains'
        tables declare)."""
        self._is_sqlite = db.is_sqlite
        self._ph = db.placeholder
        self.references: tuple[Column[Any], ...] = tuple(
            blob_oid_columns() if references is None else references
        )

    def lock(self, conn: Connection, oid: str) -> None:
        """Serialise uploads and gc on one oid for the rest of the transaction. SQLite write
        transactions are serial already; PostgreSQL takes a transaction-scoped advisory lock."""
        if not self._is_sqlite:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (oid,))

    def touch(self, conn: Connection, oid: str, size: int, now: int) -> None:
        """Record the blob, or restart its grace period if known."""
        self.lock(conn, oid)
        ph = self._ph
        driver_cursor(conn).execute(
            f"INSERT INTO blobs (oid, size, created_at) VALUES ({ph}, {ph}, {ph}) "
            "ON CONFLICT (oid) DO UPDATE SET created_at = excluded.created_at",
            (oid, size, now),
        )

    def _unreferenced(self) -> Any:
        if not self.references:  # no reference known: nothing may be called unreferenced
            raise ServerError("no table declares a column of blob oids; refusing to sweep")
        return and_(*(~exists().where(column == blobs.c.oid) for column in self.references))

    def sweep_candidates(self, conn: Connection, cutoff: int) -> list[tuple[str, int]]:
        rows = conn.execute(
            select(blobs.c.oid, blobs.c.size).where(
                blobs.c.created_at <= cutoff, self._unreferenced()
            )
        ).all()
        return [(row.oid, row.size) for row in rows]

    def forget_if_unreferenced(self, conn: Connection, oid: str, cutoff: int) -> bool:
        """Delete the blob's row if it is still unreferenced and old; True if it was."""
        self.lock(conn, oid)
        result = conn.execute(
            delete(blobs).where(
                blobs.c.oid == oid, blobs.c.created_at <= cutoff, self._unreferenced()
            )
        )
        return result.rowcount == 1

    def size_of(self, conn: Connection, oid: str) -> int | None:
        cursor = driver_cursor(conn)  # on the path of every run that links its package list
        try:
            cursor.execute(f"SELECT size FROM blobs WHERE oid = {self._ph}", (oid,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else int(row[0])

    def is_known(self, conn: Connection, oid: str) -> bool:
        self.lock(conn, oid)
        return conn.execute(select(blobs.c.oid).where(blobs.c.oid == oid)).first() is not None

    def known(self, conn: Connection) -> set[str]:
        return set(conn.execute(select(blobs.c.oid)).scalars())
