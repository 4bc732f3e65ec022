"""Adding versions: from a server-side path (a local folder or an allowed s3:// prefix) or
from a manifest of uploaded files.

Adding a version is all or nothing: the data is read, profiled, scanned and checked against
the dataset's contract before anything is written; a failing blocking check refuses the
version and nothing is stored. From a server-side path the files are stored only after that;
from uploads, the blobs were stored by the upload, and if the version is refused they stay
unreferenced until `tandem gc` frees them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from blake3 import blake3

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.validation import check_dataset_name, check_text
from tandem.data.frames import table_format
from tandem.data.ingest import HashCache, SourceFile, discover, hash_source, store_file
from tandem.data.limits import refuse_disguised
from tandem.data.models import DatasetVersion, ManifestFile
from tandem.data.service.access import DatasetAccess
from tandem.data.service.contracts import check_contract, text_digest
from tandem.data.service.files import DataConfig, materialized, staged_source
from tandem.data.service.runs import RunLinkService, check_role
from tandem.data.service.uploads import UploadService
from tandem.data.store import DatasetStore, version_model
from tandem.errors import ContractViolated, InvalidInput, NotFound
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.store.oid import Oid

if TYPE_CHECKING:
    from tandem.data.analysis import Analysis


def manifest_digest(files: Sequence[ManifestFile]) -> str:
    """The version's identity: BLAKE3 over its sorted (path, oid, size) lines."""
    hasher = blake3()
    for f in sorted(files, key=lambda f: f.path):
        hasher.update(f"{f.path}\0{f.oid}\0{f.size}\n".encode())
    return str(hasher.hexdigest())


class VersionService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        access: DatasetAccess,
        uploads: UploadService,
        links: RunLinkService,
        blobs: BlobStore,
        blob_index: BlobIndex,
        audit: AuditLog,
        config: DataConfig,
        hash_cache: HashCache,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.uploads = uploads
        self.links = links
        self.blobs = blobs
        self.blob_index = blob_index
        self.audit = audit
        self.config = config
        self.hash_cache = hash_cache

    def add_from_path(
        self,
        principal: Principal,
        project: str,
        name: str,
        path: str,
        *,
        contract: str | None = None,
        message: str = "",
        run_id: str | None = None,
        role: str = "input",
        create_dataset: bool = True,
        create_project: bool = False,
    ) -> DatasetVersion:
        """Add the file or folder at `path` (on this machine, inside the data roots) as a new
        version of dataset `name`, or return the latest version if its content is the same.

        Raises:
            UnsafePath: outside the data roots, a symbolic link, not a regular file.
            UnreadableData: a table that cannot be read.
            InvalidContract: `contract` does not parse.
            ContractViolated: a blocking check failed; nothing was stored.
        """
        self._check_write(principal, project, create_project, run_id)  # before any rule
        check_dataset_name(name)
        if path.startswith("s3://"):
            return self._add_from_s3(
                principal, project, name, path, contract=contract, message=message,
                run_id=run_id, role=role, create_dataset=create_dataset,
                create_project=create_project,
            )  # fmt: skip
        files = discover(Path(path), self.config.data_roots, forbidden=self.config.forbidden)
        hashed: list[tuple[SourceFile, Oid]] = []
        for file in files:
            oid = self.hash_cache.get(file)
            if oid is None or not self.blobs.exists(oid):
                oid = hash_source(file).oid
            hashed.append((file, oid))
        manifest = [ManifestFile(path=f.path, oid=oid, size=f.size) for f, oid in hashed]
        local = {f.path: f.local for f, _ in hashed}
        version = self._add(
            principal, project, name, manifest, local, source=str(Path(path).absolute()),
            contract=contract, message=message, run_id=run_id, role=role,
            create_dataset=create_dataset, create_project=create_project,
            store=[f for f, oid in hashed if not self.blobs.exists(oid)],
        )  # fmt: skip
        self.hash_cache.put([(f, oid) for f, oid in hashed])
        return version

    def _add_from_s3(self, principal: Principal, project: str, name: str, uri: str,
                     **options: Any) -> DatasetVersion:  # fmt: skip
        from tandem.data.s3_source import check_s3_source, download_prefix

        location = check_s3_source(uri, self.config.s3_roots, self.config.blob_location)
        with tempfile.TemporaryDirectory(dir=self.config.scratch()) as folder:
            files = download_prefix(location, Path(folder))
            hashed = [(f, hash_source(f).oid) for f in files]
            manifest = [ManifestFile(path=f.path, oid=oid, size=f.size) for f, oid in hashed]
            return self._add(
                principal, project, name, manifest, {f.path: f.local for f, _ in hashed},
                source=uri, store=[f for f, oid in hashed if not self.blobs.exists(oid)],
                **options,
            )  # fmt: skip

    def add_from_manifest(
        self,
        principal: Principal,
        project: str,
        name: str,
        files: Sequence[ManifestFile],
        *,
        source: str = "",
        contract: str | None = None,
        message: str = "",
        run_id: str | None = None,
        role: str = "input",
        create_dataset: bool = True,
        create_project: bool = False,
    ) -> DatasetVersion:
        """Add a version whose files were uploaded first (`upload_blob`), named by oid.

        Each oid must be content this project holds: uploaded into it, or already in a dataset
        or artifact the caller may read. Anything else is answered as not stored.
        """
        self._check_write(principal, project, create_project, run_id)  # before any rule
        check_dataset_name(name)
        manifest = self.uploads.check_manifest(files)
        with self.db.read() as conn:
            project_pk = self.access.find_project(conn, project)
            allowed = self.uploads.linkable(conn, principal, project_pk, [f.oid for f in manifest])
        staged: dict[str, Path] = {}
        for f in manifest:
            stage = self.config.staged(f.oid)
            if f.oid in allowed and stage.is_file():
                staged[f.path] = stage
                size = stage.stat().st_size
            elif f.oid in allowed and self.blobs.exists(Oid(f.oid)):
                size = self.blobs.size(Oid(f.oid))
            else:
                raise NotFound(f"{f.path}: blob {f.oid} is not stored: upload it first", oid=f.oid)
            if size != f.size:
                raise InvalidInput(f"{f.path}: size {f.size} does not match the uploaded file")
        to_store = [staged_source(f.path, staged[f.path]) for f in manifest if f.path in staged]
        try:
            return self._add(
                principal, project, name, manifest, staged, source=source, contract=contract,
                message=message, run_id=run_id, role=role, create_dataset=create_dataset,
                create_project=create_project, store=to_store,
            )  # fmt: skip
        except InvalidInput:
            for stage in staged.values():  # refused: keep nothing of it
                stage.unlink(missing_ok=True)
            raise

    def _check_write(
        self, principal: Principal, project: str, create_project: bool, run_id: str | None
    ) -> None:
        """Refuse early, before any data is read (checked again in the write transaction)."""
        with self.db.read() as conn:
            self.access.check_write(conn, principal, project, create=create_project)
            if run_id is not None:
                self.links.writable_run(conn, principal, run_id)

    def _add(
        self,
        principal: Principal,
        project: str,
        name: str,
        manifest: list[ManifestFile],
        local: dict[str, Path] | None,
        *,
        source: str,
        contract: str | None,
        message: str,
        run_id: str | None,
        role: str,
        create_dataset: bool,
        create_project: bool,
        store: list[SourceFile],
    ) -> DatasetVersion:
        check_text(message, "message", 10_000)
        role = check_role(role)
        digest = manifest_digest(manifest)
        contract_text = check_contract(contract) if contract is not None else None
        with self.db.read() as conn:
            project_pk = self.access.find_project(conn, project)
            existing = self.store.find(conn, project_pk, name) if project_pk is not None else None
            if existing is None and not create_dataset:
                raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
            current = self.store.current_contract(conn, existing.pk) if existing else None
            latest = self.store.latest(conn, existing.pk) if existing else None
        if contract_text is None and current is not None:
            contract_text = current.text
        new_contract = contract is not None and (
            current is None or current.digest != text_digest(contract_text or "")
        )
        unchanged = latest is not None and latest.digest == digest
        if unchanged and not new_contract and latest is not None:
            with self.db.write() as conn:
                target = self.access.dataset(conn, principal, project, name, Action.DATA_WRITE)
                self.links.link_new_version(conn, principal, latest.pk, run_id, role)
                row = self.store.version(conn, target.dataset_pk, latest.version)
            version = version_model(row, project, name)
            return version.model_copy(update={"created": False})

        analysis = self._analyse(manifest, local, contract_text)
        if analysis.blocking_failures:
            failed = ", ".join(analysis.blocking_failures[:10])
            raise ContractViolated(
                f"{project}/{name}: blocking contract checks failed ({failed}); nothing was stored",
                failed=analysis.blocking_failures,
            )
        now = now_ms()
        if store:
            with self.db.write() as conn:
                for f in manifest:
                    self.blob_index.touch(conn, f.oid, f.size, now)
            for file in store:
                stored = store_file(self.blobs, file)
                expected = next(m.oid for m in manifest if m.path == file.path)
                if stored.oid != expected:
                    raise InvalidInput(
                        f"{file.local} changed while it was being added; add it again"
                    )
        with self.db.write() as conn:
            project_pk = self.access.project_for_write(
                conn, principal, project, create=create_project
            )
            row = self.store.find(conn, project_pk, name)
            if row is None:
                if not create_dataset:
                    raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
                dataset_pk = self.store.create(conn, project_pk, name, principal.name, now)
                self.audit.record(conn, principal, "dataset.create", name, project=project)
            else:
                dataset_pk = row.pk
            revision = None
            if contract_text is not None:
                current = self.store.current_contract(conn, dataset_pk)
                if current is None or current.digest != text_digest(contract_text):
                    revision = self.store.insert_contract(
                        conn, dataset_pk, contract_text, text_digest(contract_text),
                        principal.name, now,
                    )  # fmt: skip
                else:
                    revision = current.revision
            if unchanged and latest is not None:
                version_pk, number = latest.pk, latest.version
            else:
                latest_now = self.store.latest(conn, dataset_pk)
                number = (latest_now.version if latest_now else 0) + 1
                for f in manifest:
                    self.blob_index.touch(conn, f.oid, f.size, now)
                version_pk = self.store.insert_version(
                    conn,
                    manifest,
                    dataset_pk=dataset_pk,
                    version=number,
                    digest=digest,
                    format=analysis.format,
                    rows=analysis.rows,
                    size=sum(f.size for f in manifest),
                    file_count=len(manifest),
                    source=source,
                    message=message,
                    created_at=now,
                    created_by=principal.name,
                    contract_revision=revision,
                    schema=orjson.dumps(analysis.schema).decode(),
                    profile=_json_or_none(analysis.profile),
                    pii=_json_or_none(analysis.pii),
                )
            if analysis.validation is not None and revision is not None:
                self.store.insert_validation(
                    conn, version_pk, revision, analysis.validation, passed=analysis.passed,
                    blocking_failed=False, by=principal.name, now=now,
                )  # fmt: skip
            self.links.link_new_version(conn, principal, version_pk, run_id, role)
            self.audit.record(
                conn, principal, "dataset.version.create", f"{name}@v{number}",
                project=project, digest=digest, files=len(manifest), source=source[:500],
            )  # fmt: skip
            out = self.store.version(conn, dataset_pk, number)
        return version_model(out, project, name).model_copy(update={"created": not unchanged})

    def _analyse(
        self, manifest: list[ManifestFile], local: dict[str, Path] | None, contract: str | None
    ) -> Analysis:
        from tandem.data.analysis import analyse

        fmt = table_format([f.path for f in manifest])
        with materialized(self.blobs, self.config, manifest, local) as paths:
            refuse_disguised([(f.path, p) for f, p in zip(manifest, paths, strict=True)])
            return analyse(paths, fmt, contract, self.config.executor, self.config.limits)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
