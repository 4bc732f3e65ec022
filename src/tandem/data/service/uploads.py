"""Uploads: a version's files sent first, one by one, staged until the version is added.

Content is named by oid, so a manifest may name only content its project may use: uploaded
into it (possession proved by the upload), or already in a dataset or artifact the caller may
read. Anything else is answered as not stored, so a guessed hash reveals nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection

from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paths import check_artifact_path
from tandem.data.models import ManifestFile
from tandem.data.service.access import DatasetAccess
from tandem.data.service.files import DataConfig
from tandem.data.store import DatasetStore
from tandem.errors import InvalidInput
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, check_oid, hash_file
from tandem.store.db import Database
from tandem.tracking.service import TrackingService


class UploadService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        access: DatasetAccess,
        tracking: TrackingService,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        config: DataConfig,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.tracking = tracking
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth
        self.config = config

    def missing_blobs(self, principal: Principal, project: str, oids: Sequence[str]) -> list[str]:
        """Which of `oids` the caller must upload: not stored, or not content this project may
        use (so a guessed hash reveals nothing)."""
        self.auth.require(principal, Action.DATA_WRITE, project)
        checked = [check_oid(oid) for oid in oids]
        with self.db.read() as conn:
            project_pk = self.access.project(conn, principal, project, Action.DATA_WRITE)
            allowed = self.linkable(conn, principal, project_pk, list(checked))
        return [
            oid
            for oid in checked
            if oid not in allowed
            or not (self.blobs.exists(oid) or self.config.staged(oid).is_file())
        ]

    def check_upload(self, principal: Principal, project: str) -> None:
        """Refuse an upload before its bytes are read."""
        with self.db.read() as conn:
            self.access.project(conn, principal, project, Action.DATA_WRITE)
            self.blob_index.check_room(conn, principal.name)

    def upload_blob(self, principal: Principal, project: str, source: Path) -> ManifestFile:
        """Keep the file at `source` (a server-side temporary file) for a version to come.

        It is staged, not stored: it enters the blob store only with a version that passes
        its contract, so a refused version leaves nothing behind (gc clears old stagings)."""
        info = hash_file(source)
        now = now_ms()
        with self.db.write() as conn:
            project_pk = self.access.project(conn, principal, project, Action.DATA_WRITE)
            # Refused past the uploader's quota before anything is staged (QuotaExceeded, 507).
            self.blob_index.charge_upload(conn, principal.name, info.oid, info.size, now)
            self.store.record_upload(conn, project_pk, info.oid, now)
        stage = self.config.staged(info.oid)
        if not self.blobs.exists(info.oid) and not stage.is_file():
            stage.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, stage)
        return ManifestFile(path=info.oid, oid=info.oid, size=info.size)

    # -- for adding a version from uploads ------------------------------------------------

    @staticmethod
    def check_manifest(files: Sequence[ManifestFile]) -> list[ManifestFile]:
        if not files:
            raise InvalidInput("a dataset version needs at least one file")
        seen: set[str] = set()
        checked = []
        for f in files:
            path = check_artifact_path(f.path)
            if path in seen:
                raise InvalidInput(f"{path} is listed twice")
            seen.add(path)
            checked.append(ManifestFile(path=path, oid=check_oid(f.oid), size=f.size))
        return checked

    def linkable(
        self, conn: Connection, principal: Principal, project_pk: int | None, oids: list[str]
    ) -> set[str]:
        """Those of `oids` the caller may name in a version of project `project_pk` (None: a
        project still to be created)."""
        allowed = self.store.uploaded(conn, project_pk, oids) if project_pk is not None else set()
        rest = [oid for oid in oids if oid not in allowed]
        if rest:
            for oid, holders in self._holders(conn, rest).items():
                if principal.is_superuser or any(
                    principal.may(Action.DATA_READ, p) or principal.may(Action.ARTIFACT_READ, p)
                    for p in holders
                ):
                    allowed.add(oid)
        return allowed

    def _holders(self, conn: Connection, oids: list[str]) -> dict[str, set[str]]:
        """For each oid, the projects with a dataset file or run artifact holding it."""
        in_datasets = self.store.projects_holding(conn, oids)
        names = self.access.project_names(conn, {pk for pks in in_datasets.values() for pk in pks})
        holders = {oid: {names[pk] for pk in pks} for oid, pks in in_datasets.items()}
        for oid, projects in self.tracking.artifact_projects(conn, oids).items():
            holders.setdefault(oid, set()).update(projects)
        return holders
