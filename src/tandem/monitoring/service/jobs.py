"""What evaluating a window needs, read before it is computed (the log or the stored profiles,
the reference, the SLO's request counts, the outcomes' figures), and `compute`, the part an
executor may run elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from tandem.core.auth import Principal
from tandem.core.refs import parse_model_ref
from tandem.errors import TandemError
from tandem.monitoring import signals
from tandem.monitoring.models import (
    Monitor,
    SignalKind,
)
from tandem.monitoring.service.base import MonitorCore

log = logging.getLogger(__name__)


@dataclass
class Due:
    """A (monitor, window) this pass claimed."""

    row: Any
    project: str
    monitor: Monitor
    start: int
    end: int
    token: str


@dataclass
class Job:
    """What computing a window's figures needs, as plain data (an executor may pickle it)."""

    kind: SignalKind
    params: dict[str, Any]
    frames: Any = None
    reference: Any = None
    columns: list[str] = field(default_factory=list)
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    figures: signals.FiguresLike | None = None  # computed already (no data, SLOs, outcomes)


def compute(job: Job) -> signals.FiguresLike | str:
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


class JobOps(MonitorCore):
    """A claimed window's job."""

    def _prepare(self, principal: Principal, item: Due) -> Job:
        """Read what the window's evaluation needs (the log, the reference)."""
        monitor = item.monitor
        params = dict(monitor.params)
        kind = monitor.kind
        if kind is SignalKind.SLO:
            return Job(kind, params, figures=self._slo(principal, item))
        if kind in (SignalKind.PERFORMANCE, SignalKind.ESTIMATED_PERFORMANCE, SignalKind.KPI):
            return Job(kind, params, figures=self._outcome(principal, item))
        if kind is SignalKind.FEATURE_DRIFT:
            stored = self._from_profiles(principal, item, params)
            if stored is not None:
                return stored
        frames = self.predictions.read_log(
            principal, item.project, monitor.endpoint, item.start, item.end,
            with_inputs=kind is not SignalKind.PREDICTION_DRIFT,
        )  # fmt: skip
        meta, inputs = frames.meta, frames.inputs
        version = monitor.version or dominant(meta)
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
            return Job(kind, params, meta, (state.get("baselines") or {}).get(key),
                        version=version, details={"baseline_key": key})  # fmt: skip
        found = self._window_reference(principal, item, params, version, meta.height)
        if isinstance(found, Job):
            return found
        dataset_ref, profile, contract_text, columns = found
        details = {"reference": dataset_ref}
        if kind is SignalKind.CONTRACT:
            if contract_text is None:
                return Job(kind, params, version=version, figures=signals.no_data(
                    meta.height, f"{dataset_ref} has no contract"))  # fmt: skip
            return Job(kind, params, inputs, contract_text, version=version, details=details)
        wanted = list(params.get("columns") or [c for c in columns if c in inputs.columns])
        return Job(kind, params, inputs, profile, wanted, version=version, details=details)

    def _window_reference(
        self, principal: Principal, item: Due, params: dict[str, Any], version: str | None,
        rows: int,
    ) -> Job | tuple[str, dict[str, Any], str | None, list[str]]:  # fmt: skip
        """The reference the window is compared with (`_reference`), or the no-data job that
        stands in when there is none: no traffic and no explicit reference, or a version whose
        training data has no stored profile."""
        kind = item.monitor.kind
        if version is None and not params.get("reference"):
            nothing = signals.no_data(0, "no prediction logged in the window")
            return Job(kind, params, version=None, figures=nothing)
        reference = self._reference(principal, item.project, params, version)
        if reference is None:
            return Job(kind, params, version=version, figures=signals.no_data(
                rows, f"{version} has no training data with a stored profile: name one "
                "with params.reference (dataset@vN)"))  # fmt: skip
        return reference

    def _from_profiles(self, principal: Principal, item: Due, params: dict[str, Any]) -> Job | None:
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
        version = monitor.version or dominant_parts(parts)
        rows = sum(p.rows for p in parts)
        kind = monitor.kind
        found = self._window_reference(principal, item, params, version, rows)
        if isinstance(found, Job):
            return found
        dataset_ref, profile, _, columns = found
        details = {"reference": dataset_ref, "from": "stored profiles"}
        stored = [orjson.loads(p.inputs) for p in parts]
        logged = {name for part in stored for name in part.get("state", {})}
        wanted = list(params.get("columns") or [c for c in columns if c in logged])
        return Job(kind, params, stored, profile, wanted, version=version,
                    details=details)  # fmt: skip

    def _slo(self, principal: Principal, item: Due) -> signals.Figures:
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

    def _outcome(self, principal: Principal, item: Due) -> signals.FiguresLike:
        if self.outcomes is None:
            return signals.no_data(0, "the outcomes domain is not wired in this server")
        monitor = item.monitor
        metric = str(monitor.params.get("metric") or monitor.parsed_condition().figure)
        return self.outcomes.window_figures(
            principal, item.project, monitor.endpoint, kind=monitor.kind.value, metric=metric,
            start=item.start, end=item.end, version=monitor.version,
        )  # fmt: skip


def dominant(meta: Any) -> str | None:
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


def dominant_parts(parts: Sequence[Any]) -> str | None:
    """`model@version` that served most of the window's rows, from its bucket profiles (as
    `dominant` picks it from the log)."""
    counts: dict[tuple[int, str], int] = {}
    for p in parts:
        counts[(p.version, p.model)] = counts.get((p.version, p.model), 0) + p.rows
    if not counts:
        return None
    (version, model), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0][0]))
    return f"{model}@{version}"
