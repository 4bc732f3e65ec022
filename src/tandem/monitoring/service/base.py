"""The parts of MonitoringService every operation shares: its collaborators and settings, a
monitor's row and result as the faces see them, the checks of a spec (its columns against the
model's), and the training data's stored profile a window is compared with."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Authorizer, Principal
from tandem.core.refs import parse_model_ref
from tandem.data.service import DataService
from tandem.deployments.service import DeploymentService, check_endpoint_name
from tandem.errors import InvalidInput, NotFound
from tandem.governance.plan.service import PlanService
from tandem.monitoring import signals
from tandem.monitoring.models import (
    Monitor,
    MonitorResult,
    MonitorSpec,
    SignalKind,
)
from tandem.monitoring.store import MonitorStore
from tandem.predictions.service import PredictionService
from tandem.projects.service import ProjectService
from tandem.registry.service import RegistryService
from tandem.store.db import Database

log = logging.getLogger(__name__)


LOOKBACK_WINDOWS = 24
"""A pass evaluates the closed windows of the last this many window lengths that have no
result (a monitor created today looks back a day of hourly windows; a worker down for longer
leaves older windows unevaluated)."""
LEASE_MS = 10 * 60_000
GRACE_MS = 60_000
"""A window is due this long after it closed: gateways ship their log every few seconds."""
TRAINING_ROLES = ("train", "input")
LOG_KINDS = (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT, SignalKind.CONTRACT)


class RemovedMonitors(Protocol):
    """Told of a monitor deleted, inside the deleting transaction: alerting resolves its alerts
    (`AlertService.monitor_removed`; the container wires it with `use_alerts`)."""

    def monitor_removed(
        self, conn: Connection, principal: Principal, project_pk: int, project: str,
        monitor: str,
    ) -> Any: ...  # fmt: skip


class Outcomes(Protocol):
    """Realised and estimated performance and KPIs per window (the outcomes domain's
    `OutcomeService`; the container wires it with `use_outcomes`)."""

    def window_figures(
        self, principal: Principal, project: str, endpoint: str, *, kind: str,
        metric: str, start: int, end: int, version: str | None,
    ) -> signals.FiguresLike: ...  # fmt: skip

    def changed_windows(
        self, conn: Connection, project_pk: int, endpoint: str, since_updated: int
    ) -> list[Any]: ...


class MonitorCore:
    def __init__(
        self,
        db: Database,
        store: MonitorStore,
        projects: ProjectService,
        deployments: DeploymentService,
        predictions: PredictionService,
        registry: RegistryService,
        data: DataService,
        auth: Authorizer,
        audit: AuditLog,
        plan: PlanService | None = None,
    ) -> None:
        """`plan`: the RACI, whose accountable for monitoring owns the default monitors."""
        self.db = db
        self.store = store
        self.projects = projects
        self.deployments = deployments
        self.predictions = predictions
        self.registry = registry
        self.data = data
        self.auth = auth
        self.audit = audit
        self.plan = plan
        self.outcomes: Outcomes | None = None
        self.alerts: RemovedMonitors | None = None
        self.lookback_windows = LOOKBACK_WINDOWS
        self.lease_ms = LEASE_MS
        self.grace_ms = GRACE_MS

    def use_outcomes(self, outcomes: Outcomes) -> None:
        """Read performance, estimates and KPIs from `outcomes` (the container wires it)."""
        self.outcomes = outcomes

    def use_alerts(self, alerts: RemovedMonitors) -> None:
        """Tell `alerts` of every monitor deleted (the container wires it)."""
        self.alerts = alerts

    def _remove(
        self, conn: Connection, principal: Principal, project_pk: int, project: str, row: Any
    ) -> None:
        """Delete the monitor's row (its results and claims go with it) and resolve its
        alerts, in the caller's transaction."""
        self.store.delete(conn, row.pk)
        if self.alerts is not None:
            self.alerts.monitor_removed(conn, principal, project_pk, project, row.name)

    def _row(self, conn: Connection, project_pk: int, project: str, name: str) -> Any:
        row = self.store.find(conn, project_pk, name)
        if row is None:
            raise NotFound(f"project {project!r} has no monitor {name!r}")
        return row

    def _result(self, row: Any, monitor: Monitor) -> MonitorResult:
        return self.store.result_model(
            row, project=monitor.project, monitor=monitor.name, endpoint=monitor.endpoint,
            kind=monitor.kind.value, severity=monitor.severity.value,
        )  # fmt: skip

    def _check_spec(self, principal: Principal, project: str, spec: MonitorSpec) -> None:
        check_endpoint_name(spec.endpoint)
        spec.parsed_condition()
        signals.check_params(spec.kind.value, spec.params)
        if spec.kind is SignalKind.SLO:
            from tandem.monitoring.slo import SloSpec

            SloSpec.from_params(spec.params)
        if spec.kind is SignalKind.KPI and not spec.params.get("metric"):
            raise InvalidInput("a kpi monitor names its KPI: params {metric: retention_rate}")
        if spec.version is not None:
            ref = parse_model_ref(spec.version, project)
            self.registry.get_version(principal, project, ref.name, ref.selector)
        columns = spec.params.get("columns")
        if columns:
            self._check_columns(principal, project, spec, list(columns))

    def _check_columns(
        self, principal: Principal, project: str, spec: MonitorSpec, columns: list[str]
    ) -> None:
        """Refuse a column no model version of the monitor reads, or that its explicit
        reference (`params.reference`, dataset@vN) does not hold."""
        versions: list[tuple[str, str]] = []
        if spec.version is not None:
            ref = parse_model_ref(spec.version, project)
            versions.append((ref.name, ref.selector))
        else:
            for s in self.deployments.serving(principal, project):
                if s.endpoint == spec.endpoint:
                    versions.append((s.model, str(s.version)))
        readers: list[tuple[str, str, set[str] | None]] = []
        for model, selector in versions:
            version = self.registry.get_version(principal, project, model, selector)
            known = signature_columns(version.signature)
            if known is None:
                reference = self._training_reference(principal, project, model, selector)
                known = set(reference[1].get("columns", {})) if reference else None
            readers.append((f"{model}@{version.version}", "reads", known))
        if spec.params.get("reference"):
            named = str(spec.params["reference"])
            found = self._dataset_reference(principal, project, named)
            if found is None:
                raise InvalidInput(f"{named} has no stored profile to compare live inputs with")
            readers.append((found[0], "holds", set(found[1].get("columns", {}))))
        for who, verb, known in readers:
            missing = [c for c in columns if known is not None and c not in known]
            if missing:
                raise InvalidInput(
                    f"{who} has no column {', '.join(map(repr, missing))}: "
                    f"it {verb} {', '.join(sorted(known or ()))}",
                    columns=missing,
                )

    def _reference(
        self, principal: Principal, project: str, params: dict[str, Any], version: str | None
    ) -> tuple[str, dict[str, Any], str | None, list[str]] | None:
        """(dataset@vN, stored profile, contract text, the model's columns) of the training
        data of `version`, or of `params.reference`."""
        if params.get("reference"):
            found = self._dataset_reference(principal, project, str(params["reference"]))
            columns = list(found[1].get("columns", {})) if found else []
        else:
            assert version is not None
            ref = parse_model_ref(version, project)
            found = self._training_reference(principal, project, ref.name, ref.selector)
            model_version = self.registry.get_version(principal, project, ref.name, ref.selector)
            known = signature_columns(model_version.signature)
            columns = (
                (sorted(known) if known else list(found[1].get("columns", {}))) if found else []
            )
        if found is None:
            return None
        dataset_ref, profile, contract_text = found
        return dataset_ref, profile, contract_text, columns

    def _training_reference(
        self, principal: Principal, project: str, model: str, selector: str
    ) -> tuple[str, dict[str, Any], str | None] | None:
        version = self.registry.get_version(principal, project, model, selector)
        if version.run_id is None:
            return None
        try:
            links = self.data.run_datasets(principal, version.run_id)
        except NotFound:
            return None
        for link in links:
            if link.role in TRAINING_ROLES:
                found = self._dataset_reference(
                    principal, link.project, f"{link.dataset}@v{link.version}"
                )
                if found is not None:
                    return found
        return None

    def _dataset_reference(
        self, principal: Principal, project: str, ref: str
    ) -> tuple[str, dict[str, Any], str | None] | None:
        version, profile, _ = self.data.stored_profile(principal, ref, project)
        if profile is None:
            return None
        text = None
        with contextlib.suppress(NotFound):
            text = self.data.get_contract(principal, project, version.dataset).text
        return f"{version.dataset}@v{version.version}", profile, text


def signature_columns(signature: dict[str, Any] | None) -> set[str] | None:
    inputs = (signature or {}).get("inputs") or []
    names = {str(i.get("name")) for i in inputs if isinstance(i, dict) and i.get("name")}
    return names or None


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))
