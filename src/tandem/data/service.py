"""DataService: every rule about datasets, their versions, contracts, validation and catalog.

The REST API, and through it the SDK, CLI and web UI, call these methods; nothing else writes
dataset data. Each method takes the acting principal and checks it first.

Adding a version (`add_from_path`, `add_from_manifest`) is all or nothing: the data is read,
profiled, scanned and checked against the dataset's contract before anything is written; a
failing blocking check refuses the version and nothing is stored. From a server-side path the
files are stored only after that; from uploads, the blobs were stored by the upload, and if the
version is refused they stay unreferenced until `tandem gc` frees them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from blake3 import blake3
from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.ids import Oid
from tandem.core.paging import Page, check_limit
from tandem.core.paths import check_artifact_path
from tandem.core.refs import DatasetRef, parse_dataset_ref, parse_run_ref
from tandem.core.s3uri import S3Location, is_s3
from tandem.core.validation import check_dataset_name, check_text
from tandem.data.frames import table_format
from tandem.data.ingest import HashCache, SourceFile, discover, hash_source, store_file
from tandem.data.limits import DataLimits, refuse_disguised
from tandem.data.models import (
    Contract,
    Dataset,
    DatasetUpdate,
    DatasetVersion,
    ManifestFile,
    RunLink,
)
from tandem.data.pii import mask_summary, mask_value
from tandem.data.store import DatasetStore, version_model
from tandem.errors import (
    Conflict,
    ContractViolated,
    HiddenNotFound,
    InvalidInput,
    NotFound,
)
from tandem.lineage.models import NodeKind, Relation
from tandem.lineage.store import Entity, LineageStore
from tandem.projects.service import ProjectService
from tandem.projects.store import ProjectStore
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, LocalBlobStore, check_oid, hash_file
from tandem.store.db import Database
from tandem.tracking.rules import check_run_writable
from tandem.tracking.store import RunStore

if TYPE_CHECKING:
    from tandem.data.analysis import Analysis

_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_CONTRACT_BYTES = 1 << 20


def check_role(role: str) -> str:
    if not _ROLE.match(role):
        raise InvalidInput(
            f"invalid dataset role {role!r}: use a lowercase word such as train, test, input"
        )
    return role


def manifest_digest(files: Sequence[ManifestFile]) -> str:
    """The version's identity: BLAKE3 over its sorted (path, oid, size) lines."""
    hasher = blake3()
    for f in sorted(files, key=lambda f: f.path):
        hasher.update(f"{f.path}\0{f.oid}\0{f.size}\n".encode())
    return str(hasher.hexdigest())


@dataclass(frozen=True, slots=True)
class _Target:
    project: str
    project_pk: int
    dataset_pk: int
    name: str


class DataService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        projects: ProjectService,
        project_store: ProjectStore,
        runs: RunStore,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
        *,
        data_roots: Sequence[Path],
        workspace: Path,
        hash_cache: HashCache,
        executor: str = "local",
        s3_roots: Sequence[str] = (),
        artifacts: str | None = None,
        limits: DataLimits | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.project_store = project_store
        self.runs = runs
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth
        self.audit = audit
        self.lineage = LineageStore()
        self.data_roots = tuple(data_roots)
        self.workspace = workspace
        self.hash_cache = hash_cache
        self.executor = executor  # where profiles and validations run: "local" or "ray"
        # Server-side sources: local folders and s3:// prefixes an administrator allowed, never
        # the workspace or the blob store (whose bytes belong to every project).
        self.s3_roots = tuple(S3Location.parse(root) for root in s3_roots)
        self.blob_location = S3Location.parse(artifacts) if artifacts and is_s3(artifacts) else None
        local_blobs = (Path(artifacts).resolve(),) if artifacts and not is_s3(artifacts) else ()
        self.forbidden = (workspace, *local_blobs)
        self.limits = limits or DataLimits()
        # contract digest -> the columns it classifies as sensitive (parsing takes ~30 ms)
        self._sensitive: dict[str, frozenset[str]] = {}

    # -- lookups --------------------------------------------------------------------------

    def _project_for(
        self, conn: Connection, principal: Principal, project: str, action: Action
    ) -> int:
        self.auth.require(principal, action, project)
        return self.project_store.get_pk(conn, project)

    def _dataset(
        self, conn: Connection, principal: Principal, project: str, name: str, action: Action
    ) -> _Target:
        project_pk = self._project_for(conn, principal, project, action)
        row = self.store.find(conn, project_pk, name)
        if row is None:
            raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
        return _Target(project, project_pk, row.pk, row.name)

    def _ref(self, ref: str | DatasetRef, project: str | None) -> tuple[str, DatasetRef]:
        parsed = ref if isinstance(ref, DatasetRef) else parse_dataset_ref(ref, project)
        if parsed.project is None:
            raise InvalidInput(f"{ref}: which project? pass a project or use PROJECT/NAME@vN")
        return parsed.project, parsed

    def _version_row(self, conn: Connection, target: _Target, version: int | None) -> Any:
        row = self.store.resolve(conn, target.dataset_pk, version)
        if row is None:
            which = f"version v{version}" if version is not None else "versions"
            raise NotFound(f"dataset {target.project}/{target.name} has no {which}")
        if version is None:  # the summary row of `latest` lacks the verdict: read it fully
            row = self.store.version(conn, target.dataset_pk, row.version)
        return row

    # -- adding versions ------------------------------------------------------------------

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
        files = discover(Path(path), self.data_roots, forbidden=self.forbidden)
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

        location = check_s3_source(uri, self.s3_roots, self.blob_location)
        with tempfile.TemporaryDirectory(dir=self._scratch()) as folder:
            files = download_prefix(location, Path(folder))
            hashed = [(f, hash_source(f).oid) for f in files]
            manifest = [ManifestFile(path=f.path, oid=oid, size=f.size) for f, oid in hashed]
            return self._add(
                principal, project, name, manifest, {f.path: f.local for f, _ in hashed},
                source=uri, store=[f for f, oid in hashed if not self.blobs.exists(oid)],
                **options,
            )  # fmt: skip

    def _scratch(self) -> Path:
        folder = self.workspace / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

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
        manifest = self._check_manifest(files)
        with self.db.read() as conn:
            project_pk = self.project_store.find_pk(conn, project)
            allowed = self._linkable(conn, principal, project_pk, [f.oid for f in manifest])
        staged: dict[str, Path] = {}
        for f in manifest:
            stage = self._staged(f.oid)
            if f.oid in allowed and stage.is_file():
                staged[f.path] = stage
                size = stage.stat().st_size
            elif f.oid in allowed and self.blobs.exists(Oid(f.oid)):
                size = self.blobs.size(Oid(f.oid))
            else:
                raise NotFound(f"{f.path}: blob {f.oid} is not stored: upload it first", oid=f.oid)
            if size != f.size:
                raise InvalidInput(f"{f.path}: size {f.size} does not match the uploaded file")
        to_store = [_staged_source(f.path, staged[f.path]) for f in manifest if f.path in staged]
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

    def _staged(self, oid: str) -> Path:
        return self.workspace / "staging" / oid

    def _check_write(
        self, principal: Principal, project: str, create_project: bool, run_id: str | None
    ) -> None:
        """Refuse early, before any data is read (checked again in the write transaction)."""
        with self.db.read() as conn:
            if self.project_store.find_pk(conn, project) is None and create_project:
                self.auth.require(principal, Action.PROJECT_CREATE)
            else:
                self._project_for(conn, principal, project, Action.DATA_WRITE)
            if run_id is not None:
                self._writable_run(conn, principal, run_id)

    @staticmethod
    def _check_manifest(files: Sequence[ManifestFile]) -> list[ManifestFile]:
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

    def _linkable(
        self, conn: Connection, principal: Principal, project_pk: int | None, oids: list[str]
    ) -> set[str]:
        allowed = self.store.uploaded(conn, project_pk, oids) if project_pk is not None else set()
        rest = [oid for oid in oids if oid not in allowed]
        if rest:
            for oid, holders in self.store.projects_holding(conn, rest).items():
                if principal.is_superuser or any(
                    principal.may(Action.DATA_READ, p) or principal.may(Action.ARTIFACT_READ, p)
                    for p in holders
                ):
                    allowed.add(oid)
        return allowed

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
        contract_text = self._check_contract(contract) if contract is not None else None
        with self.db.read() as conn:
            project_pk = self.project_store.find_pk(conn, project)
            existing = self.store.find(conn, project_pk, name) if project_pk is not None else None
            if existing is None and not create_dataset:
                raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
            current = self.store.current_contract(conn, existing.pk) if existing else None
            latest = self.store.latest(conn, existing.pk) if existing else None
        if contract_text is None and current is not None:
            contract_text = current.text
        new_contract = contract is not None and (
            current is None or current.digest != _text_digest(contract_text or "")
        )
        unchanged = latest is not None and latest.digest == digest
        if unchanged and not new_contract and latest is not None:
            with self.db.write() as conn:
                target = self._dataset(conn, principal, project, name, Action.DATA_WRITE)
                self._link(conn, principal, latest.pk, run_id, role)
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
            project_pk = self.projects.pk_for_write(
                conn, principal, project, Action.DATA_WRITE, create=create_project
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
                if current is None or current.digest != _text_digest(contract_text):
                    revision = self.store.insert_contract(
                        conn, dataset_pk, contract_text, _text_digest(contract_text),
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
            self._link(conn, principal, version_pk, run_id, role)
            self.audit.record(
                conn, principal, "dataset.version.create", f"{name}@v{number}",
                project=project, digest=digest, files=len(manifest), source=source[:500],
            )  # fmt: skip
            out = self.store.version(conn, dataset_pk, number)
        return version_model(out, project, name).model_copy(update={"created": not unchanged})

    def _link(self, conn: Connection, principal: Principal, version_pk: int,
              run_id: str | None, role: str) -> None:  # fmt: skip
        """Link a version the caller has just written (so may read) to a run it may write."""
        if run_id is None:
            return
        run = self._writable_run(conn, principal, run_id)
        self.store.link_run(conn, run.pk, version_pk, role, now_ms())

    def _writable_run(self, conn: Connection, principal: Principal, run_id: str) -> Any:
        """The run `run_id` if the caller may write it (runs it may not read are not found)."""
        ref = parse_run_ref(run_id)
        run = self.runs.get_row(conn, ref.run_id)
        self.auth.require(principal, Action.RUN_WRITE, run.project, hidden=f"run {ref.run_id}")
        check_run_writable(run, "linking data to it")
        return run

    @staticmethod
    def _check_contract(text: str) -> str:
        if len(text.encode()) > MAX_CONTRACT_BYTES:
            raise InvalidInput("the contract is larger than 1 MiB")
        from tandem.data.analysis import parse_contract

        parse_contract(text)  # raises InvalidContract naming the line and field
        return text

    def _analyse(
        self, manifest: list[ManifestFile], local: dict[str, Path] | None, contract: str | None
    ) -> Analysis:
        from tandem.data.analysis import analyse

        fmt = table_format([f.path for f in manifest])
        with self._materialized(manifest, local) as paths:
            refuse_disguised([(f.path, p) for f, p in zip(manifest, paths, strict=True)])
            return analyse(paths, fmt, contract, self.executor, self.limits)

    @contextlib.contextmanager
    def _materialized(
        self, manifest: list[ManifestFile], local: dict[str, Path] | None
    ) -> Iterator[list[Path]]:
        """Local files holding the manifest's bytes, in manifest order: the source files (or
        staged uploads) in `local`, the local store's blobs, or copies downloaded from remote
        storage into a scratch folder."""
        local = local or {}
        folder: Path | None = None
        try:
            paths = []
            for i, f in enumerate(manifest):
                if f.path in local:
                    paths.append(local[f.path])
                elif isinstance(self.blobs, LocalBlobStore):
                    paths.append(self.blobs.local_path(Oid(f.oid)))
                else:
                    folder = folder or Path(tempfile.mkdtemp(dir=self._scratch()))
                    target = folder / f"{i:06d}"
                    with target.open("wb") as out:
                        for chunk in self.blobs.read(Oid(f.oid)):
                            out.write(chunk)
                    paths.append(target)
            yield paths
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    # -- uploads --------------------------------------------------------------------------

    def missing_blobs(self, principal: Principal, project: str, oids: Sequence[str]) -> list[str]:
        """Which of `oids` the caller must upload: not stored, or not content this project may
        use (so a guessed hash reveals nothing)."""
        self.auth.require(principal, Action.DATA_WRITE, project)
        checked = [check_oid(oid) for oid in oids]
        with self.db.read() as conn:
            project_pk = self._project_for(conn, principal, project, Action.DATA_WRITE)
            allowed = self._linkable(conn, principal, project_pk, list(checked))
        return [
            oid
            for oid in checked
            if oid not in allowed or not (self.blobs.exists(oid) or self._staged(oid).is_file())
        ]

    def check_upload(self, principal: Principal, project: str) -> None:
        """Refuse an upload before its bytes are read."""
        with self.db.read() as conn:
            self._project_for(conn, principal, project, Action.DATA_WRITE)
            self.blob_index.check_room(conn, principal.name)

    def upload_blob(self, principal: Principal, project: str, source: Path) -> ManifestFile:
        """Keep the file at `source` (a server-side temporary file) for a version to come.

        It is staged, not stored: it enters the blob store only with a version that passes
        its contract, so a refused version leaves nothing behind (gc clears old stagings)."""
        info = hash_file(source)
        now = now_ms()
        with self.db.write() as conn:
            project_pk = self._project_for(conn, principal, project, Action.DATA_WRITE)
            # Refused past the uploader's quota before anything is staged (QuotaExceeded, 507).
            self.blob_index.charge_upload(conn, principal.name, info.oid, info.size, now)
            self.store.record_upload(conn, project_pk, info.oid, now)
        stage = self._staged(info.oid)
        if not self.blobs.exists(info.oid) and not stage.is_file():
            stage.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, stage)
        return ManifestFile(path=info.oid, oid=info.oid, size=info.size)

    # -- reading --------------------------------------------------------------------------

    def get_dataset(self, principal: Principal, project: str, name: str) -> Dataset:
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, name, Action.DATA_READ)
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
                pks = {self._project_for(conn, principal, project, Action.DATA_READ): project}
            else:
                pks = {
                    pk: name
                    for pk, name in self.project_store.all_names(conn)
                    if principal.may(Action.DATA_READ, name)
                }
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
            target = self._dataset(conn, principal, project, name, Action.DATA_READ)
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
        project, parsed = self._ref(ref, project)
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self._version_row(conn, target, parsed.version)
            version = version_model(row, project, target.name)
            if not details:
                return version
            profile, pii = self.store.version_details(conn, row.pk)
            if profile is not None:  # the sketches are for merging and drift, not for reading
                profile = {k: v for k, v in profile.items() if k != "state"}
                sensitive = self._sensitive_columns(conn, target, row.contract_revision, pii)
                profile = mask_summary(profile, sensitive)
            runs = self.store.runs_of_version(conn, row.pk, project, target.name, row.version)
            return version.model_copy(
                update={
                    "files": self.store.files(conn, row.pk),
                    "profile": profile,
                    "pii": pii,
                    "validation": self.store.latest_validation(conn, row.pk),
                    "runs": [r for r in runs if principal.may(Action.RUN_READ, r.run_project)],
                }
            )

    def _sensitive_columns(
        self, conn: Connection, target: _Target, revision: int | None, pii: Any
    ) -> set[str]:
        """Columns whose values readers must not see: flagged by the version's PII scan, or
        classified as sensitive by the contract it was checked against or the current one."""
        columns = {str(finding["column"]) for finding in pii or ()}
        contracts = [self.store.current_contract(conn, target.dataset_pk)]
        if revision is not None and (contracts[0] is None or contracts[0].revision != revision):
            contracts.append(self.store.contract(conn, target.dataset_pk, revision))
        for contract in contracts:
            if contract is None:
                continue
            if contract.digest not in self._sensitive:
                from tandem.data.contract import parse_contract

                parsed = parse_contract(contract.text)
                self._sensitive[contract.digest] = frozenset(
                    prop.column for obj in parsed.schema for prop in obj.properties
                    if prop.is_sensitive
                )  # fmt: skip
            columns |= self._sensitive[contract.digest]
        return columns

    def unresolved_pii(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None
    ) -> list[str]:
        """Columns of a version that its PII scan flagged and no contract (the one it was
        checked against, or the current one) classifies as sensitive: personal data nobody has
        declared yet."""
        project, parsed = self._ref(ref, project)
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self._version_row(conn, target, parsed.version)
            _, pii = self.store.version_details(conn, row.pk)
            declared = self._sensitive_columns(conn, target, row.contract_revision, None)
        return sorted({str(finding["column"]) for finding in pii or ()} - declared)

    def open_file(
        self, principal: Principal, ref: str | DatasetRef, path: str, project: str | None = None
    ) -> tuple[ManifestFile, Iterator[bytes]]:
        """One file of a version and its verified bytes (audited as a download)."""
        project, parsed = self._ref(ref, project)
        path = check_artifact_path(path)
        with self.db.write() as conn:
            target = self._dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self._version_row(conn, target, parsed.version)
            match = [f for f in self.store.files(conn, row.pk) if f.path == path]
            if not match:
                raise NotFound(f"{project}/{target.name}@v{row.version} has no file {path!r}")
            self.audit.record(
                conn, principal, "dataset.download", f"{target.name}@v{row.version}/{path}",
                project=project,
            )  # fmt: skip
        return match[0], self.blobs.read(Oid(match[0].oid))

    # -- catalog --------------------------------------------------------------------------

    def update_dataset(
        self, principal: Principal, project: str, name: str, data: DatasetUpdate
    ) -> Dataset:
        """Edit the catalog entry: description, owner, tags and column notes."""
        with self.db.write() as conn:
            target = self._dataset(conn, principal, project, name, Action.DATA_WRITE)
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
            target = self._dataset(conn, principal, project, name, Action.DATA_DELETE)
            self.store.set_deleted(conn, target.dataset_pk, now_ms())
            self.audit.record(conn, principal, "dataset.delete", name, project=project)
            row = self.store.find(conn, target.project_pk, name, include_deleted=True)
            return self.store.model(conn, row, project)

    def restore_dataset(self, principal: Principal, project: str, name: str) -> Dataset:
        with self.db.write() as conn:
            project_pk = self._project_for(conn, principal, project, Action.DATA_DELETE)
            row = self.store.find(conn, project_pk, name, include_deleted=True)
            if row is None:
                raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
            if row.deleted_at is None:
                raise Conflict(f"dataset {project}/{name} is not deleted")
            self.store.set_deleted(conn, row.pk, None)
            self.audit.record(conn, principal, "dataset.restore", name, project=project)
            row = self.store.find(conn, project_pk, name)
            return self.store.model(conn, row, project)

    # -- contracts and validation ---------------------------------------------------------

    def get_contract(
        self, principal: Principal, project: str, name: str, revision: int | None = None
    ) -> Contract:
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, name, Action.DATA_READ)
            row = (
                self.store.contract(conn, target.dataset_pk, revision)
                if revision is not None
                else self.store.current_contract(conn, target.dataset_pk)
            )
            if row is None:
                which = f"revision {revision}" if revision else "contract"
                raise NotFound(f"dataset {project}/{name} has no {which}")
            return self.store.contract_model(row, project, target.name)

    def set_contract(self, principal: Principal, project: str, name: str, text: str) -> Contract:
        """Make `text` the dataset's contract (a new revision; the same text changes nothing).
        Versions added from now on are checked against it; `validate` checks older ones."""
        self.auth.require(principal, Action.DATA_WRITE, project)  # before parsing the text
        text = self._check_contract(text)
        with self.db.write() as conn:
            target = self._dataset(conn, principal, project, name, Action.DATA_WRITE)
            current = self.store.current_contract(conn, target.dataset_pk)
            if current is None or current.digest != _text_digest(text):
                self.store.insert_contract(
                    conn, target.dataset_pk, text, _text_digest(text), principal.name, now_ms()
                )
                self.audit.record(conn, principal, "dataset.contract.set", name, project=project)
            row = self.store.current_contract(conn, target.dataset_pk)
            return self.store.contract_model(row, project, target.name)

    def validate(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None,
        *, contract: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Check a version against the dataset's contract (or `contract`, which then becomes
        the dataset's contract) and store the result with the version."""
        project, parsed = self._ref(ref, project)
        if contract is not None:
            self.set_contract(principal, project, parsed.name, contract)
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, parsed.name, Action.DATA_WRITE)
            row = self._version_row(conn, target, parsed.version)
            current = self.store.current_contract(conn, target.dataset_pk)
            if current is None:
                raise NotFound(
                    f"dataset {project}/{target.name} has no contract: "
                    "set one with `tandem data contract set` or `--contract`"
                )
            manifest = self.store.files(conn, row.pk)
        from tandem.data.analysis import validate_files

        fmt = table_format([f.path for f in manifest])
        if fmt is None:
            raise InvalidInput(
                f"{project}/{target.name}@v{row.version} is not a table (CSV, Parquet or "
                "JSON Lines files of one kind): there is nothing to validate"
            )
        with self._materialized(manifest, None) as paths:
            refuse_disguised([(f.path, p) for f, p in zip(manifest, paths, strict=True)])
            result, passed, blocking = validate_files(
                paths, fmt, current.text, self.executor, self.limits
            )
        with self.db.write() as conn:
            self._dataset(conn, principal, project, parsed.name, Action.DATA_WRITE)
            self.store.insert_validation(
                conn, row.pk, current.revision, result, passed=passed,
                blocking_failed=blocking, by=principal.name, now=now_ms(),
            )  # fmt: skip
            self.audit.record(
                conn, principal, "dataset.validate", f"{target.name}@v{row.version}",
                project=project, passed=passed,
            )  # fmt: skip
        return result

    def draft_contract(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None
    ) -> str:
        """An ODCS contract drafted from a version's profile, for a person to edit."""
        version = self.get_version(principal, ref, project)
        if version.profile is None:
            raise InvalidInput(f"{version.ref} is not a table: there is no profile to draft from")
        from tandem.data.analysis import draft_contract

        return draft_contract(version.profile, version.dataset, version.pii or [])

    # -- drift ----------------------------------------------------------------------------

    def diff(
        self, principal: Principal, ref_a: str, ref_b: str, project: str | None = None
    ) -> dict[str, Any]:
        """What changed from version A to version B: schema, rows and drift per column,
        computed from the two stored profiles. The categories of personal columns (as
        `get_version` hides them, on either side) are masked in the drift charts."""
        a, profile_a, sensitive_a = self._version_and_profile(principal, ref_a, project)
        b, profile_b, sensitive_b = self._version_and_profile(principal, ref_b, project)
        from tandem.data.analysis import compare_versions

        report = compare_versions(a, profile_a, b, profile_b)
        if report.get("drift"):
            _mask_drift(report["drift"], sensitive_a | sensitive_b)
        return report

    def _version_and_profile(
        self, principal: Principal, ref: str, project: str | None
    ) -> tuple[DatasetVersion, dict[str, Any] | None, set[str]]:
        """A version, its stored profile with the sketches drift needs, and the columns whose
        values must not be shown."""
        project, parsed = self._ref(ref, project)
        with self.db.read() as conn:
            target = self._dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self._version_row(conn, target, parsed.version)
            profile, pii = self.store.version_details(conn, row.pk)
            sensitive = self._sensitive_columns(conn, target, row.contract_revision, pii)
            return version_model(row, project, target.name), profile, sensitive

    # -- runs -----------------------------------------------------------------------------

    def link_run(self, principal: Principal, run_id: str, ref: str, role: str = "input") -> RunLink:
        """Record that run `run_id` used (or produced, role `output`) a dataset version.

        The caller must be allowed to write the run and to read the dataset, which may be in
        another project (`ref` as PROJECT/NAME@vN; NAME@vN is in the run's project).

        Raises:
            NotFound: no such run or version, or one the caller may not see.
            PermissionDenied: a member of the run's project who may not write runs there.
            Conflict: the run is deleted.
        """
        with self.db.write() as conn:
            run = self._writable_run(conn, principal, run_id)
            role = check_role(role)
            project, parsed = self._ref(ref, run.project)
            try:
                target = self._dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            except NotFound as error:
                raise HiddenNotFound(str(error)) from None
            row = self._version_row(conn, target, parsed.version)
            now = now_ms()
            self.store.link_run(conn, run.pk, row.pk, role, now)
            run_node = Entity(NodeKind.RUN, run.pk, run.project_pk)
            version_node = Entity(NodeKind.DATASET_VERSION, row.pk, target.project_pk)
            if role == "output":
                self.lineage.link(conn, run_node, version_node, Relation.PRODUCED, now)
            else:
                self.lineage.link(conn, version_node, run_node, Relation.CONSUMED_BY, now)
            self.audit.record(
                conn, principal, "run.dataset.link", f"{run.id}", project=run.project,
                dataset=f"{project}/{target.name}@v{row.version}", role=role,
            )  # fmt: skip
        return RunLink(
            run_id=run.id, run_name=run.name, run_project=run.project, project=project,
            dataset=target.name, version=row.version, role=role, created_at=now,
        )  # fmt: skip

    def run_datasets(self, principal: Principal, run_id: str) -> list[RunLink]:
        """The dataset versions a run used or produced, that the caller may read.

        Raises:
            NotFound: no such run, or one the caller may not read.
        """
        with self.db.read() as conn:
            run = self.runs.get_row(conn, parse_run_ref(run_id).run_id)
            self.auth.require(principal, Action.RUN_READ, run.project, hidden=f"run {run.id}")
            links = self.store.datasets_of_run(conn, run.pk, run.project)
        return [link for link in links if principal.may(Action.DATA_READ, link.project)]

    # -- gc: purging, inside gc's transaction (no permission check: gc has checked) ----------

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


def _staged_source(path: str, local: Path) -> SourceFile:
    st = local.stat()
    return SourceFile(path, local, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _text_digest(text: str) -> str:
    return str(blake3(text.encode()).hexdigest())


def _mask_drift(drift: dict[str, Any], columns: set[str]) -> None:
    """Mask, in place, the categories that a drift report's charts show for `columns`."""
    from tandem.data.drift import OTHER

    for column in drift.get("columns") or []:
        chart = column.get("chart") or {}
        if column.get("column") in columns and "categories" in chart:
            chart["categories"] = [c if c == OTHER else mask_value(c) for c in chart["categories"]]


def _json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
