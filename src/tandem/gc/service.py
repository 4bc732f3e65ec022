"""GcService: purges soft-deleted runs and projects, then sweeps unreferenced blobs.

Never deletes a blob something references: the decision and the row deletion happen in one
transaction with the reference check (see `tandem.store.blob_index`), and the blob file is
deleted only after its row is gone. The references are the columns the domains' tables declare
(`tandem.store.base.BLOB_OID`), all loaded whatever was imported; with none known, gc refuses
to run rather than take every blob for garbage.

gc imports no other domain: what it purges, it purges through the domains' services, which the
container hands it as `projects`, `runs` and `purgers` (each domain's small methods that take
gc's transaction). Blobs are gc's own concern through `tandem.store.blob_index`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.errors import ServerError
from tandem.gc.models import GcReport, GcRequest
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, StoredBlob
from tandem.store.db import Database
from tandem.store.oid import Oid

log = logging.getLogger(__name__)


class ProjectPurge(Protocol):
    """What gc asks of projects (`ProjectService`)."""

    def deleted_before(self, conn: Connection, cutoff: int) -> list[tuple[int, str]]: ...

    def purge(self, conn: Connection, project_pk: int) -> None: ...


class RunPurge(Protocol):
    """What gc asks of tracking (`TrackingService`)."""

    def deleted_run_pks(
        self, conn: Connection, cutoff: int, project_pks: Sequence[int] = ()
    ) -> list[int]: ...

    def purge_runs(self, conn: Connection, run_pks: Sequence[int]) -> None: ...


@dataclass(frozen=True)
class Purgers:
    """The other domains' parts in a purge, each a method of their service that works in gc's
    transaction; gc calls them in this order (the container fills them, in the order the
    domains' foreign keys need)."""

    run_links: Sequence[Callable[[Connection, list[int]], None]] = ()
    """Forget rows that point at these runs, before the runs go."""
    expired: Sequence[Callable[[Connection, int], None]] = ()
    """Purge the domain's own rows soft-deleted at or before the cutoff (ms)."""
    project_rows: Sequence[Callable[[Connection, int], None]] = ()
    """Purge a purged project's rows, before the project goes."""
    orphans: Sequence[Callable[[Connection], None]] = ()
    """Last: purge rows that nothing points at any more."""


class GcService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
        *,
        projects: ProjectPurge | None = None,
        runs: RunPurge | None = None,
        purgers: Purgers | None = None,
        staging: Path | None = None,
    ) -> None:
        """Without `projects`, `runs` and `purgers`, gc purges no rows and only sweeps blobs."""
        self.staging = staging  # uploads waiting for a dataset version (tandem.data.service)
        self.audit = audit
        self.db = db
        self.projects = projects
        self.runs = runs
        self.purgers = purgers if purgers is not None else Purgers()
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth

    def collect(self, principal: Principal, request: GcRequest) -> GcReport:
        """Purge soft-deleted projects and runs deleted at least `older_than_seconds` ago,
        then delete blobs that nothing references and that are older than the grace period."""
        self.auth.require(principal, Action.ADMIN)
        if not self.blob_index.references:
            raise ServerError(
                "gc knows no column that references blobs (each domain's tables.py declares "
                "them with info=BLOB_OID), so it cannot tell garbage from data: refusing to run"
            )
        now = now_ms()
        cutoff = now - request.older_than_seconds * 1000
        blob_cutoff = now - request.grace_seconds * 1000
        if request.dry_run:
            # Purge inside a transaction that is rolled back: the blobs it would free are then
            # exactly what the real run frees (orphan files aside, which it lists but keeps).
            try:
                with self.db.write() as conn:
                    doomed_projects, run_pks = self._purge(conn, cutoff)
                    candidates = self.blob_index.sweep_candidates(conn, blob_cutoff)
                    raise _RollBack
            except _RollBack:
                pass
            orphans = self._orphans(blob_cutoff)
            deleted = len(candidates) + len(orphans)
            freed = sum(size for _, size in candidates) + sum(b.size for b in orphans)
        else:
            with self.db.write() as conn:
                doomed_projects, run_pks = self._purge(conn, cutoff)
                self.audit.record(
                    conn,
                    principal,
                    "workspace.gc",
                    "workspace",
                    projects=[name for _, name in doomed_projects],
                    runs=len(run_pks),
                )
            with self.db.read() as conn:
                candidates = self.blob_index.sweep_candidates(conn, blob_cutoff)
            deleted = freed = 0
            for oid, size in candidates:
                with self.db.write() as conn:
                    if self.blob_index.forget_if_unreferenced(conn, oid, blob_cutoff):
                        self.blobs.delete(Oid(oid))
                        deleted += 1
                        freed += size
            for blob in self._orphans(blob_cutoff):
                with self.db.write() as conn:  # holds the oid's lock while deleting
                    if self.blob_index.is_known(conn, blob.oid):
                        continue
                    self.blobs.delete(blob.oid)
                deleted += 1
                freed += blob.size
            deleted_staged, freed_staged = self._clear_staging(blob_cutoff)
            deleted += deleted_staged
            freed += freed_staged
        log.info("gc purged %d runs, deleted %d blobs", len(run_pks), deleted)
        return GcReport(
            dry_run=request.dry_run,
            projects_purged=[name for _, name in doomed_projects],
            runs_purged=len(run_pks),
            blobs_deleted=deleted,
            bytes_freed=freed,
        )

    def _purge(self, conn: Connection, cutoff: int) -> tuple[list[tuple[int, str]], list[int]]:
        purgers = self.purgers
        doomed_projects = self.projects.deleted_before(conn, cutoff) if self.projects else []
        doomed_pks = [pk for pk, _ in doomed_projects]
        run_pks = self.runs.deleted_run_pks(conn, cutoff, doomed_pks) if self.runs else []
        for forget_runs in purgers.run_links:
            forget_runs(conn, run_pks)
        if self.runs is not None:
            self.runs.purge_runs(conn, run_pks)
        for purge_expired in purgers.expired:
            purge_expired(conn, cutoff)
        self.blob_index.forget_unstored_uploads(conn, cutoff)
        for pk in doomed_pks:
            for purge_project in purgers.project_rows:
                purge_project(conn, pk)
            if self.projects is not None:
                self.projects.purge(conn, pk)
        for purge_orphans in purgers.orphans:
            purge_orphans(conn)
        return doomed_projects, run_pks

    def _clear_staging(self, cutoff_ms: int) -> tuple[int, int]:
        """Uploads staged for a dataset version that never came, older than the grace period."""
        if self.staging is None or not self.staging.is_dir():
            return 0, 0
        deleted = freed = 0
        for entry in os.scandir(self.staging):
            stat = entry.stat()
            if entry.is_file() and stat.st_mtime * 1000 <= cutoff_ms:
                Path(entry.path).unlink(missing_ok=True)
                deleted += 1
                freed += stat.st_size
        return deleted, freed

    def _orphans(self, cutoff_ms: int) -> list[StoredBlob]:
        """Blobs in storage with no row at all: left by a crash between storing and recording.
        Uploads record the row before storing the bytes, so an old rowless blob is garbage."""
        with self.db.read() as conn:
            known = self.blob_index.known(conn)
        return [
            blob
            for blob in self.blobs.list()
            if blob.oid not in known and blob.modified * 1000 <= cutoff_ms
        ]


class _RollBack(Exception):
    """Raised to leave a dry run's transaction without committing it."""
