"""The catalog: finding and reading datasets and their versions, and editing a dataset's entry
(description, owner, tags, column notes), deleting and restoring it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paging import Page, check_limit
from tandem.core.paths import check_artifact_path
from tandem.core.refs import DatasetRef
from tandem.core.validation import check_text
from tandem.data.models import Dataset, DatasetUpdate, DatasetVersion, ManifestFile
from tandem.data.pii import mask_summary
from tandem.data.service.access import DatasetAccess
from tandem.data.service.privacy import PrivacyService
from tandem.data.service.runs import RunLinkService
from tandem.data.store import DatasetStore, version_model
from tandem.errors import Conflict, NotFound
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.store.oid import Oid


class CatalogService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        access: DatasetAccess,
        privacy: PrivacyService,
        links: RunLinkService,
        blobs: BlobStore,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.privacy = privacy
        self.links = links
        self.blobs = blobs
        self.auth = auth
        self.audit = audit

    # -- reading --------------------------------------------------------------------------

    def get_dataset(self, principal: Principal, project: str, name: str) -> Dataset:
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_READ)
            row = self.store.find(conn, target.project_pk, name)
            return self.store.model(conn, row, project)

    def list_datasets(
        self,
        principal: Principal,
        project: str | None = None,
        *,
        query: str | None = None,
        column: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Dataset]:
        """Datasets in `project`, or in every project the caller may read."""
        check_limit(limit)
        self.auth.require(principal, Action.ACCOUNT)  # anyone signed in; scoped below
        with self.db.read() as conn:
            if project is not None:
                pks = {self.access.project(conn, principal, project, Action.DATA_READ): project}
            else:
                pks = self.access.readable_projects(conn, principal)
            if not pks:
                return Page(items=[])
            return self.store.list(
                conn, pks, query=query, column=column, owner=owner, tag=tag,
                cursor=cursor, limit=limit,
            )  # fmt: skip

    def list_versions(
        self, principal: Principal, project: str, name: str, *, cursor: str | None = None,
        limit: int = 50,
    ) -> Page[DatasetVersion]:  # fmt: skip
        self.auth.require(principal, Action.DATA_READ, project)
        check_limit(limit)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_READ)
            rows, next_cursor = self.store.versions(
                conn, target.dataset_pk, cursor=cursor, limit=limit
            )
        return Page(
            items=[version_model(r, project, target.name) for r in rows], next_cursor=next_cursor
        )

    def get_version(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None,
        *, details: bool = True,
    ) -> DatasetVersion:  # fmt: skip
        """One version; with `details`, its files, profile, PII findings, latest validation
        and the runs that used it (those the caller may read).

        The profile shows no values of personal columns (flagged by the PII scan, or
        classified as sensitive by the version's or the dataset's current contract): their
        frequent values are masked (`mask_summary`), as validation masks failing examples.
        """
        project, parsed = self.access.ref(ref, project)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self.access.version_row(conn, target, parsed.version)
            version = version_model(row, project, target.name)
            if not details:
                return version
            profile, pii = self.store.version_details(conn, row.pk)
            if profile is not None:  # the sketches are for merging and drift, not for reading
                profile = {k: v for k, v in profile.items() if k != "state"}
                sensitive = self.privacy.sensitive_columns(conn, target, row.contract_revision, pii)
                profile = mask_summary(profile, sensitive)
            runs = self.links.runs_of_version(conn, row.pk, project, target.name, row.version)
            return version.model_copy(
                update={
                    "files": self.store.files(conn, row.pk),
                    "profile": profile,
                    "pii": pii,
                    "validation": self.store.latest_validation(conn, row.pk),
                    "runs": [r for r in runs if principal.may(Action.RUN_READ, r.run_project)],
                }
            )

    def open_file(
        self, principal: Principal, ref: str | DatasetRef, path: str, project: str | None = None
    ) -> tuple[ManifestFile, Iterator[bytes]]:
        """One file of a version and its verified bytes (audited as a download)."""
        project, parsed = self.access.ref(ref, project)
        path = check_artifact_path(path)
        with self.db.write() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self.access.version_row(conn, target, parsed.version)
            match = [f for f in self.store.files(conn, row.pk) if f.path == path]
            if not match:
                raise NotFound(f"{project}/{target.name}@v{row.version} has no file {path!r}")
            self.audit.record(
                conn, principal, "dataset.download", f"{target.name}@v{row.version}/{path}",
                project=project,
            )  # fmt: skip
        return match[0], self.blobs.read(Oid(match[0].oid))

    # -- editing --------------------------------------------------------------------------

    def update_dataset(
        self, principal: Principal, project: str, name: str, data: DatasetUpdate
    ) -> Dataset:
        """Edit the catalog entry: description, owner, tags and column notes."""
        with self.db.write() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_WRITE)
            row = self.store.find(conn, target.project_pk, name)
            values: dict[str, Any] = {}
            if data.description is not None:
                values["description"] = check_text(data.description, "description", 10_000)
            if data.owner is not None:
                values["owner"] = check_text(data.owner, "owner", 250)
            if data.tags is not None:
                tags = dict(orjson.loads(row.tags))
                for key, value in data.tags.items():
                    check_text(key, "tag key", 250)
                    if value == "":
                        tags.pop(key, None)
                    else:
                        tags[key] = check_text(value, "tag value", 5000)
                values["tags"] = orjson.dumps(tags).decode()
            self.store.update(conn, target.dataset_pk, **values)
            for column, edit in (data.columns or {}).items():
                check_text(column, "column name", 250)
                changes = {
                    k: check_text(v, f"column {k}", 10_000)
                    for k, v in edit.model_dump(exclude_none=True).items()
                }
                if changes:
                    self.store.set_column(conn, target.dataset_pk, column, **changes)
            self.audit.record(conn, principal, "dataset.update", name, project=project)
            row = self.store.find(conn, target.project_pk, name)
            return self.store.model(conn, row, project)

    def delete_dataset(self, principal: Principal, project: str, name: str) -> Dataset:
        """Soft-delete: hidden from lists; `tandem gc` purges it after the grace period."""
        with self.db.write() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_DELETE)
            self.store.set_deleted(conn, target.dataset_pk, now_ms())
            self.audit.record(conn, principal, "dataset.delete", name, project=project)
            row = self.store.find(conn, target.project_pk, name, include_deleted=True)
            return self.store.model(conn, row, project)

    def restore_dataset(self, principal: Principal, project: str, name: str) -> Dataset:
        with self.db.write() as conn:
            project_pk = self.access.project(conn, principal, project, Action.DATA_DELETE)
            row = self.store.find(conn, project_pk, name, include_deleted=True)
            if row is None:
                raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
            if row.deleted_at is None:
                raise Conflict(f"dataset {project}/{name} is not deleted")
            self.store.set_deleted(conn, row.pk, None)
            self.audit.record(conn, principal, "dataset.restore", name, project=project)
            row = self.store.find(conn, project_pk, name)
            return self.store.model(conn, row, project)
