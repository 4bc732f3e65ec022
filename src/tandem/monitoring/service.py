"""MonitoringService: monitors over endpoints' live traffic, evaluated per window.

Rules, all checked here so every face enforces them:
- Reading takes `monitor:read`; creating, changing, deleting and evaluating take
  `monitor:write` (the worker acts as `Principal.system("worker")`, which holds it in every
  project). The permission is asked before anything is read.
- A monitor watches an endpoint that exists; its params fit its kind; a column it names is one
  the model reads (its signature, or its training data's profile): anything else is refused
  whole, with nothing written.
- Each closed window of a monitor is evaluated once: one result row per (monitor, window). A
  worker claims a window (a lease row) before evaluating it and writes the result in the
  transaction that gives the claim up, only while the claim is still its own, so two workers
  never both evaluate a window; a worker that dies leaves a lease that expires, and the next
  pass takes the window over. Windows whose labels changed are evaluated again (their row
  replaced under a new `seq`).
- Feature drift and the contract compare live inputs with the training data of the version
  that served most of the window (the training run's input dataset version, as the gates find
  it) or an explicit `reference: dataset@vN`, from its stored profile: the reference's rows
  are never read. The live side of feature drift is the merge of the profiles stored when the
  window's batches were shipped (per version and 5-minute bucket: `window_profiles`); a window
  not made of whole buckets, or holding segments shipped before profiles were stored, reads the
  log. Prediction drift compares scores with the monitor's first full window.
- Every write is audited: monitors created, changed, deleted, and each window's result.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import parse_model_ref
from tandem.data.service import DataService
from tandem.deployments.service import DeploymentService, check_endpoint_name
from tandem.errors import AlreadyExists, InvalidInput, NotFound, TandemError
from tandem.governance.gates.models import MONITORING_ACTIVITY, EndpointPlan
from tandem.governance.plan.service import ChangeAction, PlanChange, PlanService
from tandem.monitoring import signals
from tandem.monitoring.models import (
    CheckSummary,
    Monitor,
    MonitorResult,
    MonitorSpec,
    MonitorStatus,
    MonitorUpdate,
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


@dataclass
class _Due:
    """A (monitor, window) this pass claimed."""

    row: Any
    project: str
    monitor: Monitor
    start: int
    end: int
    token: str


@dataclass
class _Job:
    """What computing a window's figures needs, as plain data (an executor may pickle it)."""

    kind: SignalKind
    params: dict[str, Any]
    frames: Any = None
    reference: Any = None
    columns: list[str] = field(default_factory=list)
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    figures: signals.FiguresLike | None = None  # computed already (no data, SLOs, outcomes)


def compute(job: _Job) -> signals.FiguresLike | str:
    """A window's figures, or the error that stopped them (never raises: one window's failure
    must not lose the others' results in an executor's map)."""
    try:
        if job.figures is not None:
            return job.figures
        if job.kind is SignalKind.FEATURE_DRIFT and isinstance(job.frames, list):
            return signals.feature_drift_profiles(
                job.frames, job.reference, job.columns, job.params
            )
        if job.kind is SignalKind.FEATURE_DRIFT:
            return signals.feature_drift(job.frames, job.reference, job.columns, job.params)
        if job.kind is SignalKind.PREDICTION_DRIFT:
            return signals.prediction_drift(job.frames, job.reference, job.params)
        if job.kind is SignalKind.CONTRACT:
            return signals.contract(job.frames, job.reference, job.params)
        return f"no evaluation for {job.kind} monitors"
    except TandemError as exc:
        return str(exc)
    except Exception as exc:  # a boundary: one window's failure is reported, not raised
        log.exception("evaluating a %s window failed", job.kind)
        return f"{type(exc).__name__}: {exc}"


class MonitoringService:
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
        self.lookback_windows = LOOKBACK_WINDOWS
        self.lease_ms = LEASE_MS
        self.grace_ms = GRACE_MS

    def use_outcomes(self, outcomes: Outcomes) -> None:
        """Read performance, estimates and KPIs from `outcomes` (the container wires it)."""
        self.outcomes = outcomes

    # -- monitors ---------------------------------------------------------------------------

    def create(
        self, principal: Principal, project: str, spec: MonitorSpec, *, source: str = "user"
    ) -> Monitor:
        """Create a monitor.

        Raises:
            NotFound: no such endpoint (or model version).
            AlreadyExists: the project has a monitor of that name.
            InvalidInput: a condition, window or params that do not fit the kind; a column
                the model does not have.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        self._check_spec(principal, project, spec)
        with self.db.write() as conn:
            monitor = self.create_in(conn, principal, project, spec, source=source)
        return monitor

    def create_in(
        self, conn: Connection, principal: Principal, project: str, spec: MonitorSpec, *,
        source: str,
    ) -> Monitor:  # fmt: skip
        """Create a checked monitor inside the caller's transaction (project.yaml, the defaults
        of a release). The caller checked the permission and the spec."""
        project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
        self.deployments.check_endpoint(conn, project_pk, project, spec.endpoint)
        if self.store.find(conn, project_pk, spec.name) is not None:
            raise AlreadyExists(f"project {project!r} has a monitor named {spec.name!r}")
        now = now_ms()
        pk = self.store.insert(
            conn, monitor_id=uuid.uuid4().hex, project_pk=project_pk, spec=spec, source=source,
            by=principal.name, now=now,
        )  # fmt: skip
        del pk
        self.audit.record(
            conn, principal, "monitor.create", f"{project}/monitors/{spec.name}",
            project=project, endpoint=spec.endpoint, kind=spec.kind.value, source=source,
        )  # fmt: skip
        return self.store.model(self.store.find(conn, project_pk, spec.name), project)

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
        """Refuse a column no model version of the monitor reads."""
        versions: list[tuple[str, str]] = []
        if spec.version is not None:
            ref = parse_model_ref(spec.version, project)
            versions.append((ref.name, ref.selector))
        else:
            for s in self.deployments.serving(principal, project):
                if s.endpoint == spec.endpoint:
                    versions.append((s.model, str(s.version)))
        for model, selector in versions:
            version = self.registry.get_version(principal, project, model, selector)
            known = _signature_columns(version.signature)
            if known is None:
                reference = self._training_reference(principal, project, model, selector)
                known = set(reference[1].get("columns", {})) if reference else None
            if known is None:
                continue
            missing = [c for c in columns if c not in known]
            if missing:
                raise InvalidInput(
                    f"{model}@{version.version} has no column {', '.join(map(repr, missing))}: "
                    f"it reads {', '.join(sorted(known))}",
                    columns=missing,
                )

    def list_monitors(
        self, principal: Principal, project: str, *, endpoint: str | None = None
    ) -> list[Monitor]:
        """The project's monitors (of one endpoint), by name."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return [
                self.store.model(r, project) for r in self.store.list(conn, project_pk, endpoint)
            ]

    def get(self, principal: Principal, project: str, name: str) -> Monitor:
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return self.store.model(self._row(conn, project_pk, project, name), project)

    def update(self, principal: Principal, project: str, name: str, data: MonitorUpdate) -> Monitor:
        """Change a monitor's condition, timing, severity, labels, runbook or owner."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        changes = data.model_dump(exclude_unset=True, by_alias=True)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            row = self._row(conn, project_pk, project, name)
            current = orjson.loads(row.spec)
            try:
                spec = MonitorSpec.model_validate({**current, **changes})
            except ValidationError as exc:
                raise InvalidInput(_first_error(exc)) from None
            spec.parsed_condition()
            self.store.update_spec(conn, row.pk, spec, now_ms())
            self.audit.record(
                conn, principal, "monitor.update", f"{project}/monitors/{name}",
                project=project, fields=sorted(changes),
            )  # fmt: skip
            return self.store.model(self.store.find(conn, project_pk, name), project)

    def delete(self, principal: Principal, project: str, name: str) -> None:
        """Delete a monitor with its results."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            row = self._row(conn, project_pk, project, name)
            self.store.delete(conn, row.pk)
            self.audit.record(
                conn, principal, "monitor.delete", f"{project}/monitors/{name}", project=project
            )

    def results(
        self, principal: Principal, project: str, name: str, *, since: int | None = None,
        until: int | None = None, limit: int = 100,
    ) -> list[MonitorResult]:  # fmt: skip
        """The monitor's window results, newest first."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            row = self._row(conn, project_pk, project, name)
            rows = self.store.results(conn, row.pk, since=since, until=until, limit=limit)
            monitor = self.store.model(row, project)
        return [self._result(r, monitor) for r in rows]

    def statuses(
        self, principal: Principal, project: str, *, endpoint: str | None = None
    ) -> list[MonitorStatus]:
        """The project's monitors (of one endpoint) with their newest window's result."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            rows = self.store.list(conn, project_pk, endpoint)
            latest = self.store.latest(conn, [r.pk for r in rows])
        out = []
        for row in rows:
            monitor = self.store.model(row, project)
            found = latest.get(row.pk)
            out.append(MonitorStatus(
                monitor=monitor, latest=self._result(found, monitor) if found else None
            ))  # fmt: skip
        return out

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

    # -- evaluation -------------------------------------------------------------------------

    def check(
        self, principal: Principal, project: str, monitor: str | None = None,
        now: int | None = None,
    ) -> CheckSummary:  # fmt: skip
        """Evaluate now every closed window of the project's monitors (or one monitor) that
        has no result yet: what `tandem monitors check` runs from cron or CI. The summary's
        `results` are the windows evaluated."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            if monitor is not None:
                rows = [self._row(conn, project_pk, project, monitor)]
            else:
                rows = self.store.list(conn, project_pk)
        return self._evaluate(principal, [(project, r) for r in rows], now=now or now_ms(),
                              worker=principal.name)  # fmt: skip

    def evaluate_due(
        self, principal: Principal, *, now: int, worker: str, executor: Any = None
    ) -> CheckSummary:
        """Evaluate every monitor's closed windows with no result yet, in every project the
        principal may evaluate (the worker's pass), and the windows whose labels changed.
        Each window is claimed first: another worker's windows are skipped."""
        with self.db.read() as conn:
            rows = self.store.all(conn)
            names = self.projects.names(conn, {r.project_pk for r in rows})
        allowed = [
            (names[r.project_pk], r)
            for r in rows
            if r.project_pk in names and principal.may(Action.MONITOR_WRITE, names[r.project_pk])
        ]
        return self._evaluate(principal, allowed, now=now, worker=worker, executor=executor)

    def _evaluate(
        self, principal: Principal, monitors: Sequence[tuple[str, Any]], *, now: int,
        worker: str, executor: Any = None,
    ) -> CheckSummary:  # fmt: skip
        summary = CheckSummary()
        due: list[_Due] = []
        for project, row in monitors:
            for start in self._due_windows(row, now):
                claimed = self._claim(row, project, start, worker, now)
                if claimed is None:
                    summary.skipped += 1
                else:
                    due.append(claimed)
        # Prediction drift keeps a baseline between windows: its windows go one after the
        # other, each reading the state the one before wrote. The rest go to the executor.
        stateful = [d for d in due if d.monitor.kind is SignalKind.PREDICTION_DRIFT]
        batch = [d for d in due if d.monitor.kind is not SignalKind.PREDICTION_DRIFT]
        for item in stateful:
            fresh = self._fresh_row(item)
            self._finish(principal, summary, [item], now, worker, None, fresh)
        if batch:
            self._finish(principal, summary, batch, now, worker, executor)
        return summary

    def _fresh_row(self, item: _Due) -> _Due:
        with self.db.read() as conn:
            row = self.store.find(conn, item.row.project_pk, item.monitor.name)
        return item if row is None else _Due(row, item.project, item.monitor, item.start,
                                             item.end, item.token)  # fmt: skip

    def _finish(
        self, principal: Principal, summary: CheckSummary, due: list[_Due], now: int,
        worker: str, executor: Any, *replaced: _Due,
    ) -> None:  # fmt: skip
        """Prepare, compute and write the claimed windows `due` (`replaced`: the same items
        with their monitor's row read again)."""
        items = list(replaced) or due
        jobs: list[_Job] = []
        for item in items:
            try:
                jobs.append(self._prepare(principal, item))
            except TandemError as exc:
                jobs.append(_Job(item.monitor.kind, {}, details={"error": str(exc)},
                                 figures=signals.no_data(0, str(exc))))  # fmt: skip
        run: Callable[[Callable[[_Job], Any], list[_Job]], list[Any]] = (
            executor.map if executor is not None else (lambda fn, xs: [fn(j) for j in xs])
        )
        try:
            outputs = run(compute, jobs)
        except Exception as exc:  # the executor itself failed: give every claim back
            for item in items:
                self._release(item)
            summary.failed += len(items)
            summary.errors.append(f"the executor failed: {type(exc).__name__}: {exc}")
            return
        for item, job, output in zip(items, jobs, outputs, strict=True):
            if isinstance(output, str):
                self._release(item)
                summary.failed += 1
                summary.errors.append(f"{item.project}/monitors/{item.monitor.name}: {output}")
                continue
            result = self._judge(item, job, output, now, worker)
            written = self._write(principal, item, result, output.state)
            if written is None:
                summary.skipped += 1
                continue
            summary.evaluated += 1
            summary.breached += written.breached is True
            summary.no_data += written.breached is None
            summary.results.append(written)

    def _due_windows(self, row: Any, now: int) -> list[int]:
        """Starts of the monitor's closed windows in the lookback with no result, oldest
        first (a window whose labels changed has had its result taken away: see
        `_forget_changed`)."""
        window = int(row.window_ms)
        last_end = (now - self.grace_ms) // window * window
        first = last_end - self.lookback_windows * window
        self._forget_changed(row, window, first)
        with self.db.read() as conn:
            done = self.store.evaluated_windows(conn, row.pk, first)
        return [s for s in range(first, last_end, window) if s not in done]

    def _forget_changed(self, row: Any, window: int, first: int) -> None:
        """Windows whose labels changed since the monitor last looked lose their result, so
        the next claim evaluates them again, once, whichever worker gets there: the cursor
        (`outcomes_seen` in the monitor's state) and the results go in one transaction, on the
        monitor's row held."""
        if self.outcomes is None or row.kind not in (
            SignalKind.PERFORMANCE.value, SignalKind.ESTIMATED_PERFORMANCE.value
        ):  # fmt: skip
            return
        with self.db.write() as conn:
            held = self.store.find(conn, row.project_pk, row.name, lock=True)
            if held is None:
                return
            state = orjson.loads(held.state or "{}")
            seen = int(state.get("outcomes_seen", 0))
            changed = self.outcomes.changed_windows(conn, row.project_pk, row.endpoint, seen)
            if not changed:
                return
            state["outcomes_seen"] = max(int(c.updated_at) for c in changed)
            self.store.set_state(conn, held.pk, state)
            starts = {int(c.start) // window * window for c in changed}
            self.store.delete_results(conn, held.pk, sorted(s for s in starts if s >= first))

    def _claim(self, row: Any, project: str, start: int, worker: str, now: int) -> _Due | None:
        token = secrets.token_hex(16)
        with self.db.write() as conn:
            if not self.store.claim(conn, row.pk, start, worker=worker, token=token, now=now,
                                    lease_ms=self.lease_ms):  # fmt: skip
                return None
            fresh = self.store.find(conn, row.project_pk, row.name)
            if fresh is None or fresh.pk != row.pk:  # deleted meanwhile
                self.store.release(conn, row.pk, start, token)
                return None
        return _Due(fresh, project, self.store.model(fresh, project), start,
                    start + int(row.window_ms), token)  # fmt: skip

    def _release(self, item: _Due) -> None:
        with self.db.write() as conn:
            self.store.release(conn, item.row.pk, item.start, item.token)

    def _prepare(self, principal: Principal, item: _Due) -> _Job:
        """Read what the window's evaluation needs (the log, the reference)."""
        monitor = item.monitor
        params = dict(monitor.params)
        kind = monitor.kind
        if kind is SignalKind.SLO:
            return _Job(kind, params, figures=self._slo(principal, item))
        if kind in (SignalKind.PERFORMANCE, SignalKind.ESTIMATED_PERFORMANCE, SignalKind.KPI):
            return _Job(kind, params, figures=self._outcome(principal, item))
        if kind is SignalKind.FEATURE_DRIFT:
            stored = self._from_profiles(principal, item, params)
            if stored is not None:
                return stored
        frames = self.predictions.read_log(
            principal, item.project, monitor.endpoint, item.start, item.end,
            with_inputs=kind is not SignalKind.PREDICTION_DRIFT,
        )  # fmt: skip
        meta, inputs = frames.meta, frames.inputs
        version = monitor.version or _dominant(meta)
        if monitor.version is not None and frames.rows:
            import polars as pl

            ref = parse_model_ref(monitor.version, item.project)
            keep = (pl.col("model") == ref.name) & (pl.col("version") == int(ref.selector))
            mask = meta.select(keep.alias("keep"))["keep"]
            meta = meta.filter(mask)
            inputs = inputs.filter(mask) if inputs.width else inputs
        if kind is SignalKind.PREDICTION_DRIFT:
            state = orjson.loads(item.row.state or "{}")
            key = version or "*"
            return _Job(kind, params, meta, (state.get("baselines") or {}).get(key),
                        version=version, details={"baseline_key": key})  # fmt: skip
        if version is None and not params.get("reference"):
            nothing = signals.no_data(0, "no prediction logged in the window")
            return _Job(kind, params, version=None, figures=nothing)
        reference = self._reference(principal, item.project, params, version)
        if reference is None:
            return _Job(kind, params, version=version, figures=signals.no_data(
                meta.height, f"{version} has no training data with a stored profile: name one "
                "with params.reference (dataset@vN)"))  # fmt: skip
        dataset_ref, profile, contract_text, columns = reference
        details = {"reference": dataset_ref}
        if kind is SignalKind.CONTRACT:
            if contract_text is None:
                return _Job(kind, params, version=version, figures=signals.no_data(
                    meta.height, f"{dataset_ref} has no contract"))  # fmt: skip
            return _Job(kind, params, inputs, contract_text, version=version, details=details)
        wanted = list(params.get("columns") or [c for c in columns if c in inputs.columns])
        return _Job(kind, params, inputs, profile, wanted, version=version, details=details)

    def _from_profiles(
        self, principal: Principal, item: _Due, params: dict[str, Any]
    ) -> _Job | None:
        """A feature-drift window from the profiles stored when its batches were shipped
        (merged per window: the log is not read), or None when they cannot answer for it (a
        window not made of whole 5-minute buckets, a segment shipped before profiles were
        stored): the caller reads the log."""
        monitor = item.monitor
        parts = self.predictions.window_profiles(
            principal, item.project, monitor.endpoint, item.start, item.end
        )
        if parts is None:
            return None
        if monitor.version is not None:
            ref = parse_model_ref(monitor.version, item.project)
            parts = [p for p in parts if p.model == ref.name and p.version == int(ref.selector)]
        version = monitor.version or _dominant_parts(parts)
        rows = sum(p.rows for p in parts)
        kind = monitor.kind
        if version is None and not params.get("reference"):
            nothing = signals.no_data(0, "no prediction logged in the window")
            return _Job(kind, params, version=None, figures=nothing)
        reference = self._reference(principal, item.project, params, version)
        if reference is None:
            return _Job(kind, params, version=version, figures=signals.no_data(
                rows, f"{version} has no training data with a stored profile: name one "
                "with params.reference (dataset@vN)"))  # fmt: skip
        dataset_ref, profile, _, columns = reference
        details = {"reference": dataset_ref, "from": "stored profiles"}
        stored = [orjson.loads(p.inputs) for p in parts]
        logged = {name for part in stored for name in part.get("state", {})}
        wanted = list(params.get("columns") or [c for c in columns if c in logged])
        return _Job(kind, params, stored, profile, wanted, version=version,
                    details=details)  # fmt: skip

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
            known = _signature_columns(model_version.signature)
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

    def _slo(self, principal: Principal, item: _Due) -> signals.Figures:
        from tandem.monitoring import slo

        spec = slo.SloSpec.from_params(item.monitor.params)
        bucket_s = 60
        since = item.end - spec.lookback_s * 1000
        since -= since % (bucket_s * 1000)
        points = self.deployments.windows(
            principal, item.project, item.monitor.endpoint, since=since, until=item.end,
            bucket_s=bucket_s,
        )  # fmt: skip
        if item.monitor.version is not None:
            points = [p for p in points if p.label == item.monitor.version]
        result = slo.evaluate(spec, points, item.end, bucket_s=bucket_s)
        requests = sum(p.requests for p in points if p.start >= item.start)
        return signals.Figures(
            {"burn_rate": result.value}, requests,
            {**result.to_details(), "slo_severity": result.severity.value if result.severity
             else None},
            verdict=result.breached, judged=result.breached is not None,
        )  # fmt: skip

    def _outcome(self, principal: Principal, item: _Due) -> signals.FiguresLike:
        if self.outcomes is None:
            return signals.no_data(0, "the outcomes domain is not wired in this server")
        monitor = item.monitor
        metric = str(monitor.params.get("metric") or monitor.parsed_condition().figure)
        return self.outcomes.window_figures(
            principal, item.project, monitor.endpoint, kind=monitor.kind.value, metric=metric,
            start=item.start, end=item.end, version=monitor.version,
        )  # fmt: skip

    def _judge(self, item: _Due, job: _Job, figures: signals.FiguresLike, now: int,
               worker: str) -> MonitorResult:  # fmt: skip
        monitor = item.monitor
        condition = monitor.parsed_condition()
        value = figures.figures.get(condition.figure)
        if monitor.kind is SignalKind.KPI:
            value = figures.figures.get("value", value)
        breached: bool | None
        if not figures.judged or value is None:
            breached = None
        elif figures.verdict is not None and monitor.condition is None:
            breached = figures.verdict  # an SLO judged by its burn-rate pairs
        else:
            breached = condition.holds(float(value))
        details = {**job.details, **figures.details,
                   "figures": dict(figures.figures)}  # fmt: skip
        return MonitorResult(
            project=item.project, monitor=monitor.name, endpoint=monitor.endpoint,
            kind=monitor.kind, severity=monitor.severity, window_start=item.start,
            window_end=item.end, version=job.version, value=value, condition=str(condition),
            breached=breached, estimated=figures.estimated, band_low=figures.band[0],
            band_high=figures.band[1], samples=figures.samples, details=details,
            evaluated_at=now, evaluated_by=worker,
        )  # fmt: skip

    def _write(
        self, principal: Principal, item: _Due, result: MonitorResult,
        state: dict[str, Any] | None,
    ) -> MonitorResult | None:  # fmt: skip
        """Store the result while the claim is still ours; None when it is not (the lease
        expired and another worker took the window)."""
        with self.db.write() as conn:
            if not self.store.release(conn, item.row.pk, item.start, item.token):
                return None
            seq = self.store.insert_result(conn, item.row.pk, item.row.project_pk, result)
            if state is not None:
                current = self.store.find(conn, item.row.project_pk, item.monitor.name)
                kept = orjson.loads(current.state or "{}") if current is not None else {}
                baselines = kept.setdefault("baselines", {})
                baselines.setdefault(result.version or "*", state)
                self.store.set_state(conn, item.row.pk, kept)
            self.audit.record(
                conn, principal, "monitor.evaluate",
                f"{item.project}/monitors/{item.monitor.name}", project=item.project,
                window_start=result.window_start, breached=result.breached, seq=seq,
            )  # fmt: skip
        return result.model_copy(update={"seq": seq})

    # -- project.yaml `monitors:` (the plan's `PlanSection`) -----------------------------------

    def check_section(
        self, principal: Principal, project: str, items: list[dict[str, Any]]
    ) -> list[MonitorSpec]:
        """project.yaml's monitors, each checked as `create` checks one (before the plan's
        transaction). Raises InvalidInput naming the bad one."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        specs: list[MonitorSpec] = []
        for index, item in enumerate(items):
            where = f"monitors[{index}]" + (f" ({item.get('name')})" if isinstance(item, dict)
                                             and item.get("name") else "")  # fmt: skip
            try:
                spec = MonitorSpec.model_validate(item)
                self._check_spec(principal, project, spec)
            except ValidationError as exc:
                raise InvalidInput(f"{where}: {_first_error(exc)}") from None
            except (InvalidInput, NotFound) as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            specs.append(spec)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InvalidInput("monitors: a name appears twice")
        return specs

    def section_changes(
        self, conn: Connection, project_pk: int, project: str, checked: list[MonitorSpec]
    ) -> list[PlanChange]:
        """What applying the section would change: monitors created or changed, and those
        project.yaml made before and no longer lists deleted (user and default ones stay)."""
        rows = {r.name: r for r in self.store.list(conn, project_pk)}
        changes = []
        for spec in checked:
            after = spec.model_dump_json(by_alias=True, exclude_defaults=True)
            row = rows.get(spec.name)
            if row is None:
                changes.append(PlanChange(section="monitors", action=ChangeAction.CREATE,
                                          key=spec.name, after=after))  # fmt: skip
                continue
            before = MonitorSpec.model_validate_json(row.spec)
            if before != spec:
                changes.append(PlanChange(
                    section="monitors", action=ChangeAction.UPDATE, key=spec.name,
                    before=before.model_dump_json(by_alias=True, exclude_defaults=True),
                    after=after,
                ))  # fmt: skip
        wanted = {s.name for s in checked}
        for name, row in rows.items():
            if row.source == "project" and name not in wanted:
                changes.append(PlanChange(section="monitors", action=ChangeAction.DELETE,
                                          key=name))  # fmt: skip
        return changes

    def write_section(
        self, conn: Connection, principal: Principal, project: str, project_pk: int,
        checked: list[MonitorSpec],
    ) -> None:  # fmt: skip
        """Apply the section inside the plan's transaction (needs `monitor:write`)."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        for change in self.section_changes(conn, project_pk, project, checked):
            spec = next((s for s in checked if s.name == change.key), None)
            ref = f"{project}/monitors/{change.key}"
            if change.action is ChangeAction.CREATE and spec is not None:
                self.create_in(conn, principal, project, spec, source="project")
            elif change.action is ChangeAction.UPDATE and spec is not None:
                row = self.store.find(conn, project_pk, change.key)
                if (
                    row.kind != spec.kind.value
                    or row.endpoint != spec.endpoint
                    or (row.window_ms != spec.window_ms() or row.version != spec.version)
                ):  # what it measures changed: its results no longer fit
                    self.store.delete(conn, row.pk)
                    self.create_in(conn, principal, project, spec, source="project")
                    continue
                self.store.update_spec(conn, row.pk, spec, now_ms())
                self.audit.record(conn, principal, "monitor.update", ref, project=project,
                                  source="project")  # fmt: skip
            elif change.action is ChangeAction.DELETE:
                row = self.store.find(conn, project_pk, change.key)
                self.store.delete(conn, row.pk)
                self.audit.record(conn, principal, "monitor.delete", ref, project=project,
                                  source="project")  # fmt: skip

    def export_section(
        self, conn: Connection, project_pk: int, project: str
    ) -> list[dict[str, Any]] | None:
        """The monitors project.yaml made, as it would list them (None: none)."""
        rows = [r for r in self.store.list(conn, project_pk) if r.source == "project"]
        if not rows:
            return None
        return [
            MonitorSpec.model_validate_json(r.spec).model_dump(
                mode="json", by_alias=True, exclude_defaults=True
            )
            for r in rows
        ]

    # -- defaults on deploy, and the gates' monitoring plan ------------------------------------

    def on_deploy(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, *,
        endpoint: str, production: bool, model: str, version: int,
    ) -> None:  # fmt: skip
        """A version was deployed to `endpoint` (the deployments domain's `DeployHook`, inside
        its transaction): a production endpoint gets the default monitors it lacks, one per
        kind, owned by the RACI's accountable for monitoring (a staging endpoint pages nobody:
        its monitors are made by hand). Created as part of the release the principal was
        allowed to make; audited as theirs, with source `default`."""
        del model, version
        if not production:
            return
        rows = self.store.list(conn, project_pk, endpoint)
        kinds = {r.kind for r in rows}
        owner = None
        if self.plan is not None:
            raci = self.plan.raci_rows(conn, project_pk).get(MONITORING_ACTIVITY, {})
            owner = next((m for m, letter in raci.items() if letter == "A"), None)
        now = now_ms()
        for spec in default_monitors(endpoint, owner):
            if spec.kind.value in kinds or self.store.find(conn, project_pk, spec.name):
                continue
            self.store.insert(
                conn, monitor_id=uuid.uuid4().hex, project_pk=project_pk, spec=spec,
                source="default", by=principal.name, now=now,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "monitor.create", f"{project}/monitors/{spec.name}",
                project=project, endpoint=endpoint, kind=spec.kind.value, source="default",
            )  # fmt: skip

    def monitoring_plan(self, principal: Principal, project: str, model: str) -> list[EndpointPlan]:
        """What the monitors of each production endpoint serving `model` cover (the gates'
        `MonitoringPlans`): drift (feature or prediction), performance (realised or
        estimated) and an SLO, each with an owner."""
        endpoints = sorted(
            {s.endpoint for s in self.deployments.serving(principal, project, model=model)
             if s.production and s.weight > 0}
        )  # fmt: skip
        if not endpoints:
            return []
        monitors = self.list_monitors(principal, project)
        needs = {
            "drift": {SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT},
            "performance": {SignalKind.PERFORMANCE, SignalKind.ESTIMATED_PERFORMANCE},
            "slo": {SignalKind.SLO},
        }
        plans = []
        for endpoint in endpoints:
            mine = [
                m for m in monitors
                if m.endpoint == endpoint
                and (m.version is None or m.version.startswith(f"{model}@"))
            ]  # fmt: skip
            missing, counted = [], []
            for need, kinds in needs.items():
                found = [m for m in mine if m.kind in kinds]
                owned = [m for m in found if m.owner]
                if not found:
                    missing.append(f"{need} monitor")
                elif not owned:
                    missing.append(f"owner of the {need} monitor")
                counted += [f"monitors/{m.name}" for m in owned]
            plans.append(EndpointPlan(endpoint=endpoint, missing=missing, monitors=counted))
        return plans

    # -- for alerting (inside its transaction) ------------------------------------------------

    def results_since(
        self, conn: Connection, cursor: int, limit: int = 1000
    ) -> list[MonitorResult]:
        """Every project's results with `seq` > `cursor`, in order (alerting keeps the last
        `seq` it read). No permission check: the caller is the hub's own process."""
        rows = self.store.since(conn, cursor, limit)
        names = self.projects.names(conn, {int(r.project_pk) for r in rows})
        out = []
        for r in rows:
            spec = orjson.loads(r.monitor_spec)
            out.append(self.store.result_model(
                r, project=names.get(int(r.project_pk), ""), monitor=r.monitor_name,
                endpoint=r.monitor_endpoint, kind=r.monitor_kind,
                severity=spec.get("severity", "ticket"),
            ))  # fmt: skip
        return out

    def monitors_in(self, conn: Connection, project_pk: int, project: str) -> list[Monitor]:
        """The project's monitors, for a domain reading them in its transaction (alerting's
        rules: labels, annotations, for, runbook). No permission check."""
        return [self.store.model(r, project) for r in self.store.list(conn, project_pk)]

    # -- for gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's monitors, results and claims."""
        self.store.purge_project(conn, project_pk)


def default_monitors(endpoint: str, owner: str | None) -> list[MonitorSpec]:
    """What a deployment gives an endpoint that has none of these kinds: hourly feature and
    prediction drift, the training data's contract, CBPE's estimated performance, and a 99 %
    error-rate SLO with the SRE workbook's burn-rate windows."""
    made = [
        (SignalKind.FEATURE_DRIFT, "feature-drift", {}, "ticket"),
        (SignalKind.PREDICTION_DRIFT, "prediction-drift", {}, "ticket"),
        (SignalKind.CONTRACT, "contract", {}, "ticket"),
        (SignalKind.ESTIMATED_PERFORMANCE, "estimated-performance", {}, "ticket"),
        (SignalKind.SLO, "error-rate", {"objective": "error-rate", "target": 0.99}, "page"),
    ]
    specs = []
    for kind, suffix, params, severity in made:
        fields = {"name": f"{endpoint}-{suffix}"[:64], "endpoint": endpoint, "kind": kind,
                  "params": params, "severity": severity, "owner": owner}  # fmt: skip
        specs.append(MonitorSpec.model_validate(fields))
    return specs


def _signature_columns(signature: dict[str, Any] | None) -> set[str] | None:
    inputs = (signature or {}).get("inputs") or []
    names = {str(i.get("name")) for i in inputs if isinstance(i, dict) and i.get("name")}
    return names or None


def _dominant(meta: Any) -> str | None:
    """`model@version` that served most of the window's rows."""
    if meta.height == 0:
        return None
    import polars as pl

    counts = (
        meta.group_by("model", "version")
        .agg(pl.len().alias("n"))
        .sort(["n", "version"], descending=True)
    )
    top = counts.row(0, named=True)
    return f"{top['model']}@{top['version']}"


def _dominant_parts(parts: Sequence[Any]) -> str | None:
    """`model@version` that served most of the window's rows, from its bucket profiles (as
    `_dominant` picks it from the log)."""
    counts: dict[tuple[int, str], int] = {}
    for p in parts:
        counts[(p.version, p.model)] = counts.get((p.version, p.model), 0) + p.rows
    if not counts:
        return None
    (version, model), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0][0]))
    return f"{model}@{version}"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))
