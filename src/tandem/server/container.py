"""Builds the one set of services a process uses, from settings read once. No module state:
everything hangs off the app (or the embedded client) that owns a `Services`."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.auth import Authorizer, Principal
from tandem.core.config import Settings
from tandem.gc.service import GcService
from tandem.projects.service import ProjectService
from tandem.projects.store import ProjectStore
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, open_blob_store
from tandem.store.db import Database, open_database
from tandem.tracking.service import TrackingService
from tandem.tracking.store import RunStore


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    auth: Authorizer
    projects: ProjectService
    tracking: TrackingService
    gc: GcService
    owner: Principal

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.home.mkdir(parents=True, exist_ok=True)
        db = open_database(settings.database_url)
        blobs = open_blob_store(settings.artifacts)
        auth = Authorizer()
        project_store = ProjectStore(db)
        run_store = RunStore(db)
        blob_index = BlobIndex(db)
        projects = ProjectService(db, project_store, auth)
        tracking = TrackingService(db, run_store, projects, project_store, blobs, blob_index, auth)
        gc = GcService(db, project_store, run_store, blobs, blob_index, auth)
        return cls(
            settings=settings,
            db=db,
            blobs=blobs,
            auth=auth,
            projects=projects,
            tracking=tracking,
            gc=gc,
            owner=Principal.local_owner(),
        )

    def close(self) -> None:
        self.db.dispose()
