"""Which blobs the database knows, and which of them something still references.

Domains declare the columns that hold oids where they declare their tables (`info=BLOB_OID`,
see `tandem.store.base`: artifacts, dataset files, model version files). gc deletes a blob only
if no such column names it and its row was last touched before the grace cut-off; an upload
touches the row before it relies on the blob, so gc and uploads never race into a dangling
reference (see docs/adr/0004).

It also counts the bytes each user uploaded (`upload_usage`), for the per-user storage quota:
an upload is charged to its user once per distinct content, whether or not another user stored
the same content before (so a refusal never tells whether someone else holds those bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, and_, delete, exists, func, select

from tandem.errors import QuotaExceeded, ServerError
from tandem.store.db import Database, driver_cursor
from tandem.store.tables import blobs, upload_usage


class BlobIndex:
    def __init__(
        self,
        db: Database,
        references: Sequence[Column[Any]],
        *,
        user_quota_bytes: int | None = None,
    ) -> None:
        """`references`: the columns that hold blob oids (every one the domains' tables
        declare: `tandem.server.schema.blob_references()`); `user_quota_bytes`: the per-user
        storage quota (None: none)."""
        self._is_sqlite = db.is_sqlite
        self._ph = db.placeholder
        self.references: tuple[Column[Any], ...] = tuple(references)
        self.user_quota_bytes = user_quota_bytes

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

    # -- the per-user storage quota -----------------------------------------------------------

    def uploaded_bytes(self, conn: Connection, user: str) -> int:
        """The bytes `user` has uploaded, each distinct content once."""
        total = conn.execute(
            select(func.coalesce(func.sum(upload_usage.c.size), 0)).where(
                upload_usage.c.user == user
            )
        ).scalar_one()
        return int(total)

    def check_room(self, conn: Connection, user: str) -> None:
        """Refuse an upload before its bytes are read when `user` has no room left at all."""
        quota = self.user_quota_bytes
        if quota is not None and (used := self.uploaded_bytes(conn, user)) >= quota:
            self._refuse(used, 1, quota)

    def charge_upload(self, conn: Connection, user: str, oid: str, size: int, now: int) -> None:
        """Count an upload of `size` bytes with content `oid` against `user`, in the caller's
        write transaction and before the content is kept: raises QuotaExceeded (and the
        transaction then changes nothing) if it would take `user` past the quota. Content the
        user uploaded before is not counted again."""
        quota = self.user_quota_bytes
        if quota is not None:
            if not self._is_sqlite:  # one user's concurrent uploads are charged one by one
                conn.exec_driver_sql(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"quota:{user}",)
                )
            known = conn.execute(
                select(upload_usage.c.size).where(
                    upload_usage.c.user == user, upload_usage.c.oid == oid
                )
            ).first()
            if known is not None:
                return
            used = self.uploaded_bytes(conn, user)
            if used + size > quota:
                self._refuse(used, size, quota)
        ph = self._ph
        driver_cursor(conn).execute(
            f'INSERT INTO upload_usage ("user", oid, size, created_at) '
            f"VALUES ({ph}, {ph}, {ph}, {ph}) ON CONFLICT DO NOTHING",
            (user, oid, size, now),
        )

    def forget_unstored_uploads(self, conn: Connection, cutoff: int) -> None:
        """Stop counting uploads older than `cutoff` whose content never became a blob (a
        dataset file staged for a version that never came: gc deletes the staged file)."""
        conn.execute(
            delete(upload_usage).where(
                upload_usage.c.created_at <= cutoff,
                ~exists().where(blobs.c.oid == upload_usage.c.oid),
            )
        )

    @staticmethod
    def _refuse(used: int, size: int, quota: int) -> None:
        raise QuotaExceeded(
            f"this upload of {size} bytes would take you past your storage quota: you have "
            f"uploaded {used} of {quota} bytes (delete runs or datasets you no longer need; "
            "`tandem gc` then frees their space, or ask an admin for a larger quota)",
            used=used,
            size=size,
            quota=quota,
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
        if result.rowcount != 1:
            return False
        # The content is gone: it no longer counts against the quotas of those who uploaded it.
        conn.execute(delete(upload_usage).where(upload_usage.c.oid == oid))
        return True

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
