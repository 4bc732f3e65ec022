"""What gc purges of the data domain, inside gc's transaction. No permission is checked here:
gc checked the caller (an admin) before it began."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from tandem.data.store import DatasetStore


class DatasetPurge:
    def __init__(self, store: DatasetStore) -> None:
        self.store = store

    def forget_runs(self, conn: Connection, run_pks: Sequence[int]) -> None:
        """Forget which datasets these runs used, before the runs are purged."""
        self.store.purge_run_links(conn, run_pks)

    def purge_expired(self, conn: Connection, cutoff: int) -> None:
        """Purge datasets deleted, and uploads made, at or before `cutoff` (ms)."""
        self.store.purge_datasets(conn, self.store.deleted_before(conn, cutoff))
        self.store.forget_uploads_before(conn, cutoff)

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Purge a purged project's datasets and uploads."""
        self.store.purge_project(conn, project_pk)
