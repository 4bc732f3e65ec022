"""EvaluationService: recording evaluations of model versions on dataset versions, and reading
them back. The numbers are computed where the model can be loaded (the SDK, `tandem evaluate`):
the server never loads a model (ADR 12). It checks that the model version, dataset version and
baseline exist and that the caller may write the model and read the data, and stores the report
with those links, so every figure on a model card points at what it was measured on.
"""

from __future__ import annotations

import importlib
import math
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import ModelRef, parse_dataset_ref, parse_model_ref
from tandem.data.service import DataService
from tandem.errors import InvalidInput, NotFound
from tandem.evaluation.models import Evaluation, EvaluationCreate
from tandem.evaluation.schema import EvaluationReport, readable_report, report_errors
from tandem.evaluation.store import EvaluationStore
from tandem.lineage.models import Entity, NodeKind, NodeLabel, Relation
from tandem.lineage.service import LineageLinks
from tandem.projects.service import ProjectService
from tandem.registry.service import RegistryService
from tandem.store.db import Database

if TYPE_CHECKING:  # the pure figures, for other domains (outcomes): see `__getattr__`
    from tandem.evaluation.bootstrap import bootstrap as bootstrap
    from tandem.evaluation.calibration import calibration as calibration
    from tandem.evaluation.fairness import fairness as fairness
    from tandem.evaluation.groups import Slicing as Slicing
    from tandem.evaluation.metrics import BinaryData as BinaryData
    from tandem.evaluation.metrics import RankOrder as RankOrder
    from tandem.evaluation.metrics import binary_metrics as binary_metrics
    from tandem.evaluation.metrics import regression_metrics as regression_metrics

MAX_REPORT_BYTES = 16 << 20

# The evaluation domain's pure figures, published to the other domains (the outcomes domain
# computes realised performance with them) and imported on first use: NumPy is not loaded
# when the server starts.
_FIGURES = {
    "bootstrap": "tandem.evaluation.bootstrap",
    "calibration": "tandem.evaluation.calibration",
    "fairness": "tandem.evaluation.fairness",
    "Slicing": "tandem.evaluation.groups",
    "BinaryData": "tandem.evaluation.metrics",
    "RankOrder": "tandem.evaluation.metrics",
    "binary_metrics": "tandem.evaluation.metrics",
    "regression_metrics": "tandem.evaluation.metrics",
}


def __getattr__(name: str) -> Any:
    module = _FIGURES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
        store: EvaluationStore,
        projects: ProjectService,
        registry: RegistryService,
        data: DataService,
        lineage: LineageLinks,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.registry = registry
        self.data = data
        self.lineage = lineage
        self.auth = auth
        self.audit = audit

    def _model_version(self, conn: Connection, project_pk: int, project: str, ref: ModelRef) -> Any:
        model = self.registry.model_in(conn, project_pk, ref.name)
        if model is None:
            raise NotFound(f"model {ref.name!r} does not exist in project {project!r}")
        row = self.registry.version_of(conn, model.pk, ref)
        if row is None:
            raise NotFound(f"model {project}/{ref} does not exist")
        return row

    def _dataset_version(
        self, conn: Connection, principal: Principal, text: str, project: str
    ) -> tuple[Any, int]:
        """The dataset version `text` names, and its project's pk."""
        ref = parse_dataset_ref(text, project)
        dataset_project = ref.project or project
        self.auth.require(principal, Action.DATA_READ, dataset_project)
        project_pk = self.projects.find_pk_in(conn, dataset_project)
        dataset = self.data.dataset_in(conn, project_pk, ref.name) if project_pk else None
        if dataset is None or project_pk is None:
            raise NotFound(f"dataset {ref.name!r} does not exist in project {dataset_project!r}")
        row = self.data.dataset_version_of(conn, dataset.pk, ref.version)
        if row is None:
            raise NotFound(f"dataset {dataset_project}/{ref} has no such version")
        return row, project_pk

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
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_WRITE)
            version = self._model_version(conn, project_pk, project, model_ref)
            dataset, dataset_project_pk = self._dataset_version(
                conn, principal, data.dataset, project
            )
            baseline = None
            if data.baseline is not None:
                base_ref = parse_model_ref(data.baseline, project)
                baseline = self._model_version(conn, project_pk, project, base_ref)
            eval_id = uuid.uuid4().hex
            eval_pk = self.store.insert(
                conn, id=eval_id, project_pk=project_pk, model_version_pk=version.pk,
                dataset_version_pk=dataset.pk,
                baseline_version_pk=baseline.pk if baseline is not None else None,
                task=task, target=data.target, threshold=_finite(threshold),
                rows=checked.rows, headline=orjson.dumps(headline).decode(), report=text,
                created_at=now, created_by=principal.name,
            )  # fmt: skip
            evaluation = Entity(NodeKind.EVALUATION, eval_pk, project_pk)
            self.lineage.link(
                conn, Entity(NodeKind.MODEL_VERSION, version.pk, project_pk), evaluation,
                Relation.EVALUATED, now,
            )  # fmt: skip
            self.lineage.link(
                conn, Entity(NodeKind.DATASET_VERSION, dataset.pk, dataset_project_pk),
                evaluation, Relation.EVALUATED_ON, now,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "evaluation.record", eval_id, project=project,
                model=f"{model_ref.name}@{version.version}", dataset=data.dataset,
            )  # fmt: skip
            return self._get(conn, eval_id, full=False)

    def _evaluations(self, conn: Connection, rows: Sequence[Any], full: bool) -> list[Evaluation]:
        """The stored rows as the API shows them, naming their model and dataset versions
        through the registry and data services (one query each for all the rows); a row whose
        version or project is gone is left out."""
        version_pks = {r.model_version_pk for r in rows} | {
            r.baseline_version_pk for r in rows if r.baseline_version_pk is not None
        }
        versions = self.registry.versions_by_pk(conn, sorted(version_pks))
        datasets = self.data.versions_by_pk(conn, sorted({r.dataset_version_pk for r in rows}))
        project_pks = {r.project_pk for r in rows} | {d.project_pk for d in datasets.values()}
        names = self.projects.names(conn, project_pks)
        found = []
        for row in rows:
            model = versions.get(row.model_version_pk)
            dataset = datasets.get(row.dataset_version_pk)
            project = names.get(row.project_pk)
            if model is None or dataset is None or project is None:
                continue
            dataset_project = names.get(dataset.project_pk)
            if dataset_project is None:
                continue
            baseline = versions.get(row.baseline_version_pk)
            report, unreadable = _stored_report(row.report) if full else (None, [])
            found.append(Evaluation(
                id=row.id, project=project, model=model.name, model_version=model.version,
                dataset_project=dataset_project, dataset=dataset.name,
                dataset_version=dataset.version,
                baseline_version=baseline.version if baseline is not None else None,
                task=row.task, target=row.target, threshold=row.threshold, rows=row.rows,
                overall=orjson.loads(row.headline), created_at=row.created_at,
                created_by=row.created_by, report=report, unreadable=unreadable,
            ))  # fmt: skip
        return found

    def _get(self, conn: Connection, eval_id: str, *, full: bool) -> Evaluation:
        row = self.store.get(conn, eval_id)
        found = self._evaluations(conn, [row], full) if row is not None else []
        if not found:
            raise NotFound(f"evaluation {eval_id} does not exist")
        return found[0]

    def get(self, principal: Principal, project: str, eval_id: str) -> Evaluation:
        """An evaluation with its whole report."""
        with self.db.read() as conn:
            self.projects.access(conn, principal, project, Action.MODEL_READ)
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
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            found = self.registry.model_in(conn, project_pk, ref.name)
            if found is None:
                raise NotFound(f"model {ref.name!r} does not exist in project {project!r}")
            if ref.version is not None or ref.alias is not None:
                version_pks = [self._model_version(conn, project_pk, project, ref).pk]
            else:
                version_pks = self.registry.version_pks(conn, found.pk)
            rows = self.store.of_versions(conn, version_pks, limit=500)
            return self._evaluations(conn, rows, full)

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
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_WRITE)
            row = self.store.find(conn, project_pk, eval_id.lower())
            shown = self._evaluations(conn, [row], full=False) if row is not None else []
            if not shown:
                raise NotFound(f"evaluation {eval_id} does not exist")
            found = shown[0]
            self.store.delete(conn, row.pk)
            # SQLite may hand a deleted row's pk to the next evaluation: its node must not stay
            self.lineage.forget(conn, Entity(NodeKind.EVALUATION, row.pk, project_pk))
            self.audit.record(
                conn, principal, "evaluation.delete", found.id, project=project,
                model=f"{found.model}@{found.model_version}",
                dataset=f"{found.dataset_project}/{found.dataset}@v{found.dataset_version}",
                recorded_by=found.created_by, recorded_at=found.created_at,
            )  # fmt: skip
            return found

    # -- read models for other domains (inside the caller's transaction) -------------------
    # No permission is checked here: the calling service has checked it.

    def evaluation_pk_in(self, conn: Connection, project_pk: int, eval_id: str) -> int | None:
        """The pk of evaluation `eval_id` in the project, or None."""
        return self.store.pk_in(conn, project_pk, eval_id)

    def lineage_labels(self, conn: Connection, pks: Sequence[int]) -> dict[int, NodeLabel]:
        """The lineage graph's read model of evaluations."""
        return {
            pk: NodeLabel(project_pk, f"evaluations/{eid}", f"evaluation {eid[:8]} ({task})")
            for pk, eid, task, project_pk in self.store.labels(conn, pks)
        }

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's evaluations go with it."""
        self.store.purge_project(conn, project_pk)
