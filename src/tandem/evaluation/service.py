"""EvaluationService: recording evaluations of model versions on dataset versions, and reading
them back. The numbers are computed where the model can be loaded (the SDK, `tandem evaluate`):
the server never loads a model (ADR 12). It checks that the model version, dataset version and
baseline exist and that the caller may write the model and read the data, and stores the report
with those links, so every figure on a model card points at what it was measured on.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, select

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import ModelRef, parse_dataset_ref, parse_model_ref
from tandem.data.store import DatasetStore
from tandem.data.tables import dataset_versions, datasets
from tandem.errors import InvalidInput, NotFound
from tandem.evaluation.models import Evaluation, EvaluationCreate
from tandem.evaluation.schema import EvaluationReport, readable_report, report_errors
from tandem.evaluation.tables import evaluations
from tandem.lineage.models import NodeKind, Relation
from tandem.lineage.store import Entity, LineageStore
from tandem.projects.store import ProjectStore
from tandem.projects.tables import projects
from tandem.registry.store import RegistryStore
from tandem.registry.tables import model_versions, registered_models
from tandem.store.db import Database

MAX_REPORT_BYTES = 16 << 20


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _stored_report(text: str) -> tuple[dict[str, Any], list[str]]:
    """A stored report as readers may rely on it: one recorded before reports were validated
    loses the parts that do not fit the schema (named in the second item), not the page."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}, ["report"]
    return readable_report(raw)


class EvaluationService:
    def __init__(
        self,
        db: Database,
        project_store: ProjectStore,
        registry: RegistryStore,
        datasets: DatasetStore,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.project_store = project_store
        self.registry = registry
        self.datasets = datasets
        self.auth = auth
        self.audit = audit
        self.lineage = LineageStore()

    def _project_pk(
        self, conn: Connection, principal: Principal, project: str, action: Action
    ) -> int:
        self.auth.require(principal, action, project)
        return self.project_store.get_pk(conn, project)

    def _model_version(self, conn: Connection, project_pk: int, project: str, ref: ModelRef) -> Any:
        model = self.registry.find(conn, project_pk, ref.name)
        if model is None:
            raise NotFound(f"model {ref.name!r} does not exist in project {project!r}")
        row = self.registry.resolve(conn, model.pk, ref)
        if row is None:
            raise NotFound(f"model {project}/{ref} does not exist")
        return row

    def _dataset_version(
        self, conn: Connection, principal: Principal, text: str, project: str
    ) -> Any:
        ref = parse_dataset_ref(text, project)
        dataset_project = ref.project or project
        self.auth.require(principal, Action.DATA_READ, dataset_project)
        project_pk = self.project_store.find_pk(conn, dataset_project)
        dataset = self.datasets.find(conn, project_pk, ref.name) if project_pk else None
        if dataset is None:
            raise NotFound(f"dataset {ref.name!r} does not exist in project {dataset_project!r}")
        row = self.datasets.resolve(conn, dataset.pk, ref.version)
        if row is None:
            raise NotFound(f"dataset {dataset_project}/{ref} has no such version")
        return row

    def record(self, principal: Principal, project: str, data: EvaluationCreate) -> Evaluation:
        """Store an evaluation report against its model version and dataset version.

        Raises:
            InvalidInput: the report does not fit `EvaluationReport` (nothing is stored).
        """
        self.auth.require(principal, Action.MODEL_WRITE, project)
        text = orjson.dumps(data.report, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        if len(text) > MAX_REPORT_BYTES:
            raise InvalidInput(f"report is {len(text):,} bytes; at most {MAX_REPORT_BYTES:,}")
        try:
            checked = EvaluationReport.model_validate(data.report)
        except ValidationError as exc:
            errors = report_errors(exc)
            first = errors[0]
            raise InvalidInput(
                f"{first['location']}: {first['message']} (the report must have the shape "
                "evaluate_binary and evaluate_regression build; see docs/evaluation.md)",
                errors=errors,
            ) from None
        task = checked.task
        headline = {k: _finite(v) for k, v in checked.overall.items()}
        threshold = checked.threshold
        model_ref = parse_model_ref(data.model, project)
        if model_ref.project not in (None, project):
            raise InvalidInput(f"the model must be in project {project!r}")
        now = now_ms()
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.MODEL_WRITE)
            version = self._model_version(conn, project_pk, project, model_ref)
            dataset = self._dataset_version(conn, principal, data.dataset, project)
            baseline = None
            if data.baseline is not None:
                base_ref = parse_model_ref(data.baseline, project)
                baseline = self._model_version(conn, project_pk, project, base_ref)
            eval_id = uuid.uuid4().hex
            eval_pk = conn.execute(
                insert(evaluations).values(
                    id=eval_id, project_pk=project_pk, model_version_pk=version.pk,
                    dataset_version_pk=dataset.pk,
                    baseline_version_pk=baseline.pk if baseline is not None else None,
                    task=task, target=data.target, threshold=_finite(threshold),
                    rows=checked.rows, headline=orjson.dumps(headline).decode(), report=text,
                    created_at=now, created_by=principal.name,
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
            evaluation = Entity(NodeKind.EVALUATION, eval_pk, project_pk)
            self.lineage.link(
                conn, Entity(NodeKind.MODEL_VERSION, version.pk, project_pk), evaluation,
                Relation.EVALUATED, now,
            )  # fmt: skip
            self.lineage.link(
                conn, self.lineage.dataset_version(conn, dataset.pk), evaluation,
                Relation.EVALUATED_ON, now,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "evaluation.record", eval_id, project=project,
                model=f"{model_ref.name}@{version.version}", dataset=data.dataset,
            )  # fmt: skip
            return self._get(conn, eval_id, full=False)

    def _query(self) -> Any:
        mv, bv = model_versions.alias("mv"), model_versions.alias("bv")
        dp = projects.alias("dp")
        return (
            select(
                evaluations,
                projects.c.name.label("project"),
                registered_models.c.name.label("model"),
                mv.c.version.label("model_version"),
                bv.c.version.label("baseline_version"),
                datasets.c.name.label("dataset"),
                dataset_versions.c.version.label("dataset_version"),
                dp.c.name.label("dataset_project"),
            )
            .join(projects, projects.c.pk == evaluations.c.project_pk)
            .join(mv, mv.c.pk == evaluations.c.model_version_pk)
            .join(registered_models, registered_models.c.pk == mv.c.model_pk)
            .join(dataset_versions, dataset_versions.c.pk == evaluations.c.dataset_version_pk)
            .join(datasets, datasets.c.pk == dataset_versions.c.dataset_pk)
            .join(dp, dp.c.pk == datasets.c.project_pk)
            .outerjoin(bv, bv.c.pk == evaluations.c.baseline_version_pk)
        ), mv

    @staticmethod
    def _model(row: Any, full: bool) -> Evaluation:
        report, unreadable = _stored_report(row.report) if full else (None, [])
        return Evaluation(
            id=row.id, project=row.project, model=row.model, model_version=row.model_version,
            dataset_project=row.dataset_project, dataset=row.dataset,
            dataset_version=row.dataset_version, baseline_version=row.baseline_version,
            task=row.task, target=row.target, threshold=row.threshold, rows=row.rows,
            overall=orjson.loads(row.headline), created_at=row.created_at,
            created_by=row.created_by, report=report, unreadable=unreadable,
        )  # fmt: skip

    def _get(self, conn: Connection, eval_id: str, *, full: bool) -> Evaluation:
        query, _ = self._query()
        row = conn.execute(query.where(evaluations.c.id == eval_id)).first()
        if row is None:
            raise NotFound(f"evaluation {eval_id} does not exist")
        return self._model(row, full)

    def get(self, principal: Principal, project: str, eval_id: str) -> Evaluation:
        """An evaluation with its whole report."""
        with self.db.read() as conn:
            self._project_pk(conn, principal, project, Action.MODEL_READ)
            found = self._get(conn, eval_id.lower(), full=True)
            if found.project != project:
                raise NotFound(f"evaluation {eval_id} does not exist")
            return found

    def list_for_model(
        self, principal: Principal, project: str, model: str, *, full: bool = False
    ) -> list[Evaluation]:
        """A model's evaluations (of one version with `NAME@N`), newest first."""
        self.auth.require(principal, Action.MODEL_READ, project)
        ref = parse_model_ref(model, project)
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.MODEL_READ)
            found = self.registry.find(conn, project_pk, ref.name)
            if found is None:
                raise NotFound(f"model {ref.name!r} does not exist in project {project!r}")
            query, mv = self._query()
            query = query.where(mv.c.model_pk == found.pk)
            if ref.version is not None or ref.alias is not None:
                version = self._model_version(conn, project_pk, project, ref)
                query = query.where(evaluations.c.model_version_pk == version.pk)
            rows = conn.execute(query.order_by(evaluations.c.pk.desc()).limit(500)).all()
            return [self._model(r, full) for r in rows]

    def delete(self, principal: Principal, project: str, eval_id: str) -> Evaluation:
        """Delete an evaluation (a project or workspace admin's call, e.g. for a report that
        misstates what was measured), with its lineage links; recorded in the audit log.

        Returns:
            What was deleted (without its report).

        Raises:
            PermissionDenied: the caller is not an admin of the project.
            NotFound: no such evaluation in the project.
        """
        self.auth.require(principal, Action.PROJECT_WRITE, project)
        with self.db.write() as conn:
            project_pk = self.project_store.get_pk(conn, project)
            query, _ = self._query()
            row = conn.execute(
                query.where(
                    evaluations.c.id == eval_id.lower(), evaluations.c.project_pk == project_pk
                )
            ).first()
            if row is None:
                raise NotFound(f"evaluation {eval_id} does not exist")
            found = self._model(row, full=False)
            conn.execute(delete(evaluations).where(evaluations.c.pk == row.pk))
            # SQLite may hand a deleted row's pk to the next evaluation: its node must not stay
            self.lineage.forget(conn, Entity(NodeKind.EVALUATION, row.pk, project_pk))
            self.audit.record(
                conn, principal, "evaluation.delete", found.id, project=project,
                model=f"{found.model}@{found.model_version}",
                dataset=f"{found.dataset_project}/{found.dataset}@v{found.dataset_version}",
                recorded_by=found.created_by, recorded_at=found.created_at,
            )  # fmt: skip
            return found

    # -- gc: purging, inside gc's transaction (no permission check: gc has checked) ----------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Purge a purged project's evaluations."""
        from tandem.evaluation.store import purge_evaluations

        purge_evaluations(conn, project_pk)
