"""RegistryService: every rule about registered models, their versions, stages and aliases.

The REST API, and through it the SDK, CLI and web UI, call these methods; nothing else writes
registry data. Each method takes the acting principal and checks it first.

A version is registered from a run's artifacts: the folder a run logged the model into holds
the model's files and `tandem-model.json` (flavor, format, signature, requirements). The
manifest is copied into the version when it is registered, so the version stays what it was
even if the run's artifacts are overwritten or the run is purged. The server never loads a
model: it stores files and reads only the small JSON description.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paging import Page, check_limit
from tandem.core.paths import check_artifact_path
from tandem.core.refs import ModelRef, check_alias, parse_run_ref
from tandem.core.validation import check_model_name, check_text
from tandem.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from tandem.lineage.models import Entity, NodeKind, NodeLabel, Relation
from tandem.lineage.service import LineageLinks
from tandem.projects.service import ProjectService
from tandem.registry.models import (
    CARD_SECTIONS,
    FORMATS,
    MODEL_META,
    Model,
    ModelFile,
    ModelMeta,
    ModelUpdate,
    ModelVersion,
    Stage,
    VersionCreate,
)
from tandem.registry.store import RegistryStore
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.tracking.service import TrackingService

MAX_META_BYTES = 1 << 20
# Moving a version to these stages releases it: a narrower permission than editing it.
RELEASE_STAGES = frozenset({Stage.READY_FOR_PRODUCTION, Stage.PRODUCTION, Stage.RETIRED})


class RegistryService:
    def __init__(
        self,
        db: Database,
        store: RegistryStore,
        projects: ProjectService,
        tracking: TrackingService,
        lineage: LineageLinks,
        blobs: BlobStore,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.tracking = tracking
        self.lineage = lineage
        self.blobs = blobs
        self.auth = auth
        self.audit = audit

    # -- lookups --------------------------------------------------------------------------

    def _model_row(
        self, conn: Connection, principal: Principal, project: str, name: str, action: Action
    ) -> Any:
        project_pk = self.projects.access(conn, principal, project, action)
        row = self.store.find(conn, project_pk, name)
        if row is None:
            other = self.store.find_casefold(conn, project_pk, name)
            hint = f" (its name is {other.name!r}: names keep their case)" if other else ""
            raise NotFound(f"model {name!r} does not exist in project {project!r}{hint}")
        return row

    def _version_row(self, conn: Connection, model: Any, project: str, ref: ModelRef) -> Any:
        row = self.store.resolve(conn, model.pk, ref)
        if row is None:
            if ref.version is not None:
                what = f"version {ref.version}"
            else:
                what = f"alias {ref.alias!r}" if ref.alias else "versions"
            raise NotFound(f"model {project}/{model.name} has no {what}")
        return row

    def _version_model(
        self, conn: Connection, row: Any, project: str, name: str, *, files: bool = False
    ) -> ModelVersion:
        """The version `row` as the API shows it, naming the run it came from (if it exists)."""
        run_ids = self.tracking.run_ids(conn, [row.run_pk]) if row.run_pk is not None else {}
        return self.store.version_model(
            conn, row, project, name, run_id=run_ids.get(row.run_pk), files=files
        )

    @staticmethod
    def _ref(project: str, name: str, selector: str) -> ModelRef:
        from tandem.core.refs import parse_model_ref

        ref = parse_model_ref(f"{name}@{selector}", project)
        return ModelRef(project, ref.name, ref.version, ref.alias)

    # -- models ---------------------------------------------------------------------------

    def list_models(
        self,
        principal: Principal,
        project: str,
        *,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Model]:
        self.auth.require(principal, Action.MODEL_READ, project)
        check_limit(limit)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            rows, next_cursor = self.store.page(conn, project_pk, q=q, cursor=cursor, limit=limit)
            return Page(
                items=[self.store.model(conn, r, project) for r in rows], next_cursor=next_cursor
            )

    def get_model(self, principal: Principal, project: str, name: str) -> Model:
        with self.db.read() as conn:
            row = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            return self.store.model(conn, row, project)

    def update_model(
        self, principal: Principal, project: str, name: str, data: ModelUpdate
    ) -> Model:
        self.auth.require(principal, Action.MODEL_WRITE, project)  # before checking the body
        values: dict[str, Any] = {}
        if data.description is not None:
            values["description"] = check_text(data.description, "description", 10_000)
        if data.tags is not None:
            for key, value in data.tags.items():
                check_text(key, "tag key", 250)
                check_text(value, "tag value", 5_000)
            values["tags"] = orjson.dumps(data.tags).decode()
        with self.db.write() as conn:
            row = self._model_row(conn, principal, project, name, Action.MODEL_WRITE)
            self.store.update(conn, row.pk, **values)
            self.audit.record(conn, principal, "model.update", f"{project}/{name}", project=project)
            return self.store.model(conn, self.store.find(conn, row.project_pk, name), project)

    # -- versions -------------------------------------------------------------------------

    def register(
        self, principal: Principal, project: str, name: str, data: VersionCreate
    ) -> ModelVersion:
        """Register the model run `data.run_id` logged under `data.artifact_path` as the next
        version of model `name` (created if new).

        Raises:
            InvalidInput: no `tandem-model.json` there, or it is malformed, names missing files,
                or a flavor/format tandem does not know.
            AlreadyExists: the model is new and its name differs from another's only by case.
            NotFound: the run does not exist (or is not visible to the caller).
        """
        self.auth.require(principal, Action.MODEL_WRITE, project)
        check_model_name(name)
        folder = check_artifact_path(data.artifact_path).rstrip("/")
        description = check_text(data.description, "description", 10_000)
        with self.db.read() as conn:
            self.projects.access(conn, principal, project, Action.MODEL_WRITE)
            run = self._run(conn, principal, project, data.run_id)
            artifacts = self.tracking.artifacts_in(conn, run.pk, folder + "/")
        by_path = {a.path[len(folder) + 1 :]: a for a in artifacts}
        meta = self._read_meta(by_path, folder)
        files = [ModelFile(path=p, oid=a.oid, size=a.size) for p, a in sorted(by_path.items())]
        now = now_ms()
        for attempt in range(3):  # two writers may number the same version: try the next one
            try:
                with self.db.write() as conn:
                    project_pk = self.projects.access(conn, principal, project, Action.MODEL_WRITE)
                    run = self._run(conn, principal, project, data.run_id)
                    model = self.store.find(conn, project_pk, name)
                    if model is None:
                        self._check_new_name(conn, project_pk, project, name)
                    model_pk = (
                        model.pk
                        if model is not None
                        else self.store.create(conn, project_pk, name, principal.name, now)
                    )
                    version = self.store.next_version(conn, model_pk)
                    self.store.insert_version(
                        conn,
                        files,
                        model_pk=model_pk,
                        version=version,
                        flavor=meta.flavor,
                        format=meta.format,
                        trusted=meta.trusted,
                        run_pk=run.pk,
                        artifact_path=folder,
                        signature=orjson.dumps(meta.signature).decode() if meta.signature else None,
                        requirements=orjson.dumps(meta.requirements).decode(),
                        library_version=meta.library_version,
                        stage=Stage.DRAFT.value,
                        description=description,
                        created_at=now,
                        created_by=principal.name,
                        stage_changed_at=now,
                        stage_changed_by=principal.name,
                    )
                    self.audit.record(
                        conn,
                        principal,
                        "model.version.register",
                        f"{project}/{name}@{version}",
                        project=project,
                        run=run.id,
                        flavor=meta.flavor,
                        format=meta.format,
                    )
                    row = self.store.version(conn, model_pk, version)
                    self.lineage.link(
                        conn,
                        Entity(NodeKind.RUN, run.pk, run.project_pk),
                        Entity(NodeKind.MODEL_VERSION, row.pk, project_pk),
                        Relation.PRODUCED,
                        now,
                    )
                    return self.store.version_model(
                        conn, row, project, name, run_id=run.id, files=True
                    )
            except IntegrityError:
                if attempt == 2:
                    raise Conflict(
                        f"model {name!r} is being registered concurrently; retry"
                    ) from None
        raise AssertionError("unreachable")

    def _check_new_name(self, conn: Connection, project_pk: int, project: str, name: str) -> None:
        """A new model's name must differ from every other in the project by more than case
        (the database enforces it too, with a unique index on lower(name))."""
        other = self.store.find_casefold(conn, project_pk, name)
        if other is not None:
            raise AlreadyExists(
                f"model {other.name!r} exists in project {project!r}, and model names differ by "
                f"more than case: register {name!r} as a version of {other.name!r}, or choose "
                "another name",
                model=other.name,
            )

    def _run(self, conn: Connection, principal: Principal, project: str, run_id: str) -> Any:
        ref = parse_run_ref(run_id, project)
        row = self.tracking.run_in(conn, ref.run_id)
        if row is None:
            raise NotFound(f"run {ref.run_id} does not exist", run_id=ref.run_id)
        self.auth.require(principal, Action.RUN_READ, row.project, hidden=f"run {ref.run_id}")
        if row.project != project or (ref.project is not None and ref.project != row.project):
            raise InvalidInput(f"run {row.id} is in project {row.project!r}, not {project!r}")
        self.tracking.check_run_writable(row, "registering its model")
        return row

    def _read_meta(self, by_path: dict[str, Any], folder: str) -> ModelMeta:
        meta_file = by_path.get(MODEL_META)
        if meta_file is None:
            raise InvalidInput(
                f"the run has no model under {folder!r}: expected {folder}/{MODEL_META} "
                "(log the model with run.log_model)"
            )
        if meta_file.size > MAX_META_BYTES:
            raise InvalidInput(f"{folder}/{MODEL_META} is too large ({meta_file.size} bytes)")
        raw = b"".join(self.blobs.read(meta_file.oid))
        try:
            meta = ModelMeta.model_validate_json(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise InvalidInput(f"{folder}/{MODEL_META}: {where}: {problem['msg']}") from None
        if meta.flavor not in FORMATS:
            raise InvalidInput(
                f"unknown model flavor {meta.flavor!r}: use one of {', '.join(FORMATS)}"
            )
        if meta.format not in FORMATS[meta.flavor]:
            allowed = ", ".join(sorted(FORMATS[meta.flavor]))
            raise InvalidInput(f"a {meta.flavor} model is stored as {allowed}, not {meta.format!r}")
        if meta.trusted != (meta.format == "pickle"):
            raise InvalidInput("trusted must be true exactly for pickle-based formats")
        missing = [f for f in meta.files if f not in by_path]
        if missing:
            raise InvalidInput(
                f"{folder}/{MODEL_META} names files the run does not have: {missing}"
            )
        return meta

    def list_versions(
        self,
        principal: Principal,
        project: str,
        name: str,
        *,
        stage: Stage | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[ModelVersion]:
        self.auth.require(principal, Action.MODEL_READ, project)
        check_limit(limit)
        with self.db.read() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            rows, next_cursor = self.store.versions(
                conn, model.pk, stage=stage, cursor=cursor, limit=limit
            )
            run_ids = self.tracking.run_ids(conn, [r.run_pk for r in rows if r.run_pk is not None])
            items = [
                self.store.version_model(conn, r, project, name, run_id=run_ids.get(r.run_pk))
                for r in rows
            ]
            return Page(items=items, next_cursor=next_cursor)

    def get_version(
        self, principal: Principal, project: str, name: str, selector: str
    ) -> ModelVersion:
        """`selector`: a version number, an alias or `latest`."""
        self.auth.require(principal, Action.MODEL_READ, project)
        ref = self._ref(project, name, selector)
        with self.db.read() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            row = self._version_row(conn, model, project, ref)
            return self._version_model(conn, row, project, name, files=True)

    def update_version(
        self, principal: Principal, project: str, name: str, selector: str, description: str
    ) -> ModelVersion:
        self.auth.require(principal, Action.MODEL_WRITE, project)
        ref = self._ref(project, name, selector)
        description = check_text(description, "description", 10_000)
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_WRITE)
            row = self._version_row(conn, model, project, ref)
            self.store.update_version(conn, row.pk, description=description)
            self.audit.record(
                conn,
                principal,
                "model.version.update",
                f"{project}/{name}@{row.version}",
                project=project,
            )
            return self._version_model(
                conn, self.store.version(conn, model.pk, row.version), project, name
            )

    def set_stage(
        self, principal: Principal, project: str, name: str, selector: str, stage: Stage
    ) -> ModelVersion:
        """Move a version to `stage`, with no gate: the primitive under
        `GateService.move_stage`, which is what every face calls (forward moves go through a
        gate there; this one is used directly only for moves back to draft). Editors (data
        scientists, ML engineers) move between draft and ready-for-review; releasing it
        further, or retiring it, is for the roles with `model:release` (ML engineers, admins).
        A retired version stays retired."""
        action = Action.MODEL_RELEASE if stage in RELEASE_STAGES else Action.MODEL_WRITE
        self.auth.require(principal, action, project)
        ref = self._ref(project, name, selector)
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            row = self._version_row(conn, model, project, ref)
            current = Stage(row.stage)
            if current is not stage and current in RELEASE_STAGES:
                # taking a released version back is a release too (asked before any rule)
                self.auth.require(principal, Action.MODEL_RELEASE, project)
            if current is Stage.RETIRED and stage is not Stage.RETIRED:
                raise Conflict(f"{project}/{name}@{row.version} is retired; register a new version")
            if current is not stage:
                now = now_ms()
                self.store.update_version(
                    conn,
                    row.pk,
                    stage=stage.value,
                    stage_changed_at=now,
                    stage_changed_by=principal.name,
                )
                self.audit.record(
                    conn,
                    principal,
                    "model.version.stage",
                    f"{project}/{name}@{row.version}",
                    project=project,
                    previous=current.value,
                    stage=stage.value,
                )
            row = self.store.version(conn, model.pk, row.version)
            return self._version_model(conn, row, project, name)

    def move_by_gate(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        name: str,
        version_pk: int,
        stage: Stage,
        gate_id: str,
    ) -> None:
        """Move a version to `stage` because gate `gate_id` passed, inside the gate's
        transaction. The gate's sign-offs are the authority, so the caller's own permission
        to move stages is not asked (a product manager's approval may complete a release)."""
        row = self.store.version_by_pk(conn, version_pk)
        now = now_ms()
        self.store.update_version(
            conn, version_pk, stage=stage.value, stage_changed_at=now,
            stage_changed_by=f"gate {gate_id}",
        )  # fmt: skip
        self.audit.record(
            conn, principal, "model.version.stage", f"{project}/{name}@{row.version}",
            project=project, previous=row.stage, stage=stage.value, gate=gate_id,
        )  # fmt: skip

    def move_by_traffic(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        version_pk: int,
        stage: Stage,
        *,
        endpoint: str,
        cause: str,
    ) -> Stage | None:
        """Move a version to `stage` because production traffic moved (`cause`: a release
        completed on `endpoint`, or a rollback), inside the deployment's transaction, so the
        stage and the traffic never disagree. The deployment's own permission check is the
        authority. Returns the stage it left, or None when it was at `stage` already."""
        row = self.store.version_by_pk(conn, version_pk)
        if row is None:
            raise NotFound(f"project {project!r} has no model version with key {version_pk}")
        previous = Stage(row.stage)
        if previous is stage:
            return None
        names = self.store.version_names(conn, {version_pk})
        name = names[version_pk][0]
        self.store.update_version(
            conn, version_pk, stage=stage.value, stage_changed_at=now_ms(),
            stage_changed_by=f"{cause} on endpoint {endpoint}",
        )  # fmt: skip
        self.audit.record(
            conn, principal, "model.version.stage", f"{project}/{name}@{row.version}",
            project=project, previous=previous.value, stage=stage.value, endpoint=endpoint,
            cause=cause,
        )  # fmt: skip
        return previous

    def point_alias(
        self, conn: Connection, principal: Principal, project: str, alias: str, version_pk: int
    ) -> None:
        """Point `alias` of the version's model at it (a release keeps `rollback` on the version
        it replaced), inside the caller's transaction; audited. No permission check: the
        calling service checked its own."""
        row = self.store.version_by_pk(conn, version_pk)
        if row is None:
            raise NotFound(f"project {project!r} has no model version with key {version_pk}")
        current = self.store.by_alias(conn, row.model_pk, alias)
        if current is not None and current.pk == version_pk:
            return
        name = self.store.version_names(conn, {version_pk})[version_pk][0]
        self.store.set_alias(conn, row.model_pk, alias, version_pk, principal.name, now_ms())
        self.audit.record(
            conn, principal, "model.alias.set", f"{project}/{name}@{alias}",
            project=project, version=row.version,
        )  # fmt: skip

    def drop_alias_from(
        self, conn: Connection, principal: Principal, project: str, alias: str, version_pk: int
    ) -> bool:
        """Remove `alias` of the version's model if it points at this version (a rollback makes
        the version it restored no longer a rollback target), inside the caller's transaction;
        audited. Returns whether it did."""
        row = self.store.version_by_pk(conn, version_pk)
        current = self.store.by_alias(conn, row.model_pk, alias) if row is not None else None
        if current is None or current.pk != version_pk:
            return False
        name = self.store.version_names(conn, {version_pk})[version_pk][0]
        self.store.delete_alias(conn, row.model_pk, alias)
        self.audit.record(
            conn, principal, "model.alias.delete", f"{project}/{name}@{alias}", project=project
        )
        return True

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, principal: Principal, project: str, name: str, alias: str, version: int
    ) -> Model:
        self.auth.require(principal, Action.MODEL_WRITE, project)
        check_alias(alias)
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_WRITE)
            row = self.store.version(conn, model.pk, version)
            if row is None:
                raise NotFound(f"model {project}/{name} has no version {version}")
            self.store.set_alias(conn, model.pk, alias, row.pk, principal.name, now_ms())
            self.audit.record(
                conn,
                principal,
                "model.alias.set",
                f"{project}/{name}@{alias}",
                project=project,
                version=version,
            )
            return self.store.model(conn, model, project)

    def delete_alias(self, principal: Principal, project: str, name: str, alias: str) -> Model:
        self.auth.require(principal, Action.MODEL_WRITE, project)
        check_alias(alias)
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_WRITE)
            if not self.store.delete_alias(conn, model.pk, alias):
                raise NotFound(f"model {project}/{name} has no alias {alias!r}")
            self.audit.record(
                conn, principal, "model.alias.delete", f"{project}/{name}@{alias}", project=project
            )
            return self.store.model(conn, model, project)

    # -- model card texts ------------------------------------------------------------------

    def card_texts(self, principal: Principal, project: str, name: str) -> dict[str, str]:
        with self.db.read() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            return self.store.card_texts(conn, model.pk)

    def set_card_texts(
        self, principal: Principal, project: str, name: str, texts: dict[str, str]
    ) -> dict[str, str]:
        """Write the model card's free-text sections (`CARD_SECTIONS`); "" clears one."""
        self.auth.require(principal, Action.MODEL_WRITE, project)
        unknown = set(texts) - set(CARD_SECTIONS)
        if unknown:
            raise InvalidInput(f"unknown card sections {sorted(unknown)}: use {CARD_SECTIONS}")
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_WRITE)
            now = now_ms()
            for section, text in texts.items():
                self.store.set_card_text(conn, model.pk, section, text, principal.name, now)
            self.audit.record(conn, principal, "model.card.edit", f"{project}/{name}",
                              project=project, sections=sorted(texts))  # fmt: skip
            return self.store.card_texts(conn, model.pk)

    # -- files ----------------------------------------------------------------------------

    def open_file(
        self, principal: Principal, project: str, name: str, selector: str, path: str
    ) -> tuple[ModelFile, Iterator[bytes]]:
        """A file of a version, and its verified bytes (the download is audited)."""
        self.auth.require(principal, Action.MODEL_READ, project)
        ref = self._ref(project, name, selector)
        path = check_artifact_path(path)
        with self.db.write() as conn:
            model = self._model_row(conn, principal, project, name, Action.MODEL_READ)
            row = self._version_row(conn, model, project, ref)
            found = next((f for f in self.store.files(conn, row.pk) if f.path == path), None)
            if found is None:
                raise NotFound(f"{project}/{name}@{row.version} has no file {path!r}", path=path)
            self.audit.record(
                conn,
                principal,
                "model.download",
                f"{project}/{name}@{row.version}/{path}",
                project=project,
            )
        return found, self.blobs.read(found.oid)  # type: ignore[arg-type]

    # -- read models for other domains (inside the caller's transaction) -------------------
    # No permission is checked here: the calling service has checked it.

    def model_in(self, conn: Connection, project_pk: int, name: str) -> Any:
        """Model `name`'s row (pk, name, ...), or None."""
        return self.store.find(conn, project_pk, name)

    def version_of(self, conn: Connection, model_pk: int, ref: ModelRef) -> Any:
        """The version of model `model_pk` that `ref` names (number, alias or latest), or None."""
        return self.store.resolve(conn, model_pk, ref)

    def model_version_in(self, conn: Connection, project_pk: int, ref: ModelRef) -> Any:
        """The version's row (pk, version, ...) that `ref` names in the project, or None."""
        model = self.store.find(conn, project_pk, ref.name)
        return self.store.resolve(conn, model.pk, ref) if model is not None else None

    def version_pks(self, conn: Connection, model_pk: int) -> list[int]:
        """The pks of every version of model `model_pk`."""
        return self.store.version_pks(conn, model_pk)

    def versions_by_pk(self, conn: Connection, version_pks: Sequence[int]) -> dict[int, Any]:
        """pk -> row (project_pk, model_pk, name, version, stage) of the versions that exist."""
        return self.store.versions_by_pk(conn, version_pks)

    def lineage_labels(self, conn: Connection, version_pks: Sequence[int]) -> dict[int, NodeLabel]:
        """The lineage graph's read model of model versions."""
        return {
            pk: NodeLabel(row.project_pk, f"models/{row.name}@{row.version}",
                          f"{row.name}@{row.version}", row.stage)
            for pk, row in self.store.versions_by_pk(conn, version_pks).items()
        }  # fmt: skip

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's models and versions go with it."""
        self.store.purge_project(conn, project_pk)

    def forget_runs(self, conn: Connection, run_pks: Sequence[int]) -> None:
        """gc: versions of purged runs keep their files and lose the link to the run."""
        self.store.forget_runs(conn, run_pks)

    def version_pk(self, conn: Connection, project_pk: int, name: str, version: int) -> int:
        """The pk of version `version` of model `name`, for a domain that keeps rows about a
        version (governance's gates). No permission check: the caller has read the version
        (`get_version`) already; a missing one is NotFound."""
        model = self.store.find(conn, project_pk, name)
        row = self.store.version(conn, model.pk, version) if model is not None else None
        if row is None:
            raise NotFound(f"model {name!r} has no version {version}")
        return int(row.pk)

    def version_names(self, conn: Connection, version_pks: set[int]) -> dict[int, tuple[str, int]]:
        """{version pk: (model name, version number)} of the versions among `version_pks`, for
        a domain that keeps version pks (a project's gates). No permission check: the caller
        checked its read access to the project."""
        return self.store.version_names(conn, version_pks)
