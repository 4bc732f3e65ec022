"""The monitoring page of an endpoint: its monitors and their last verdicts, drift per feature over
time (a heat map), realised and estimated performance with their bands, calibration, latency and
errors per version, and the business KPIs, with the endpoint's deployment events marked on every
chart and each chart's numbers in a table beside it.

Every figure comes from the monitoring, outcomes and deployments services with the caller's
principal; this module only shapes them for `monitorcharts` (adapters from the domain models to
its `Figure` and `DriftCell`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.deployments.models import WindowPoint
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.monitoring.models import (
    DEFAULT_CONDITIONS,
    FIGURES,
    Monitor,
    MonitorResult,
    Severity,
    SignalKind,
)
from tandem.outcomes.models import Estimate, Kpi, WindowMetrics
from tandem.web import monitorcharts as mc
from tandem.web import monitorsignals as ms
from tandem.web import servingviews
from tandem.web.datacharts import VERDICT_STATISTICS
from tandem.web.deps import Services, ServicesDep
from tandem.web.render import render

router = APIRouter(include_in_schema=False)

HOUR = 3_600_000
RANGES = {"24h": (86_400_000, HOUR), "7d": (7 * 86_400_000, 6 * HOUR),
          "30d": (30 * 86_400_000, 24 * HOUR)}  # fmt: skip
"""The ranges the page offers: milliseconds shown, milliseconds per latency bucket."""
BUCKET_LABELS = {"24h": "hour", "7d": "6 hours", "30d": "day"}
HISTORY_LIMIT = 200  # deployment events read for the marks
RESULTS_LIMIT = 10_000  # the service's most: 30 days of 5-minute windows would not fit
PERFORMANCE_CHARTS = (  # metric, title, a score on [0, 1]
    ("roc_auc", "ROC AUC", True),
    ("accuracy", "Accuracy", True),
    ("precision", "Precision", True),
    ("recall", "Recall", True),
    ("ece", "Expected calibration error", False),
)
CALIBRATION_BINS = 10
REFRESH_S = 30  # static/refresh.js reloads the page's live parts this often
NOTICES = {
    "created": "The monitor is created: the worker evaluates it when its first window closes.",
    "deleted": "The monitor and its results are deleted.",
}
KIND_HELP = {  # what each kind watches, in words a product manager reads
    SignalKind.FEATURE_DRIFT.value: "the model's inputs against its training data",
    SignalKind.PREDICTION_DRIFT.value: "the model's scores and its share of positive predictions",
    SignalKind.CONTRACT.value: "the training data's contract checked on the live inputs",
    SignalKind.PERFORMANCE.value: "realised performance, once labels arrive",
    SignalKind.ESTIMATED_PERFORMANCE.value: "estimated performance before labels arrive (CBPE)",
    SignalKind.SLO.value: "latency or errors against an objective, by burn rate",
    SignalKind.KPI.value: "a business figure pushed from outside",
}
CHARTED_KINDS = frozenset(
    {SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT, SignalKind.CONTRACT, SignalKind.SLO}
)  # their results are drawn


def _q(value: str) -> str:
    return quote(value, safe="")


# -- adapters: domain models -> monitorcharts shapes -------------------------------------------


def _column_entries(details: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """The per-column figures of a feature-drift result's details, as (column, figures)."""
    columns = details.get("columns")
    if isinstance(columns, dict):
        for name, figures in columns.items():
            if isinstance(figures, dict):
                yield str(name), figures
    elif isinstance(columns, list):
        for figures in columns:
            if isinstance(figures, dict) and (figures.get("column") or figures.get("name")):
                yield str(figures.get("column") or figures.get("name")), figures


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def drift_cells(results: Sequence[MonitorResult]) -> list[mc.DriftCell]:
    """Each feature's drift in each window, from the feature-drift monitors' results. A
    p-value (KS, chi-square) is turned so that a larger score means more drift (1 - p, against
    1 - threshold); other statistics (PSI, Jensen-Shannon, Wasserstein) are used as they are."""
    cells: dict[tuple[str, int], mc.DriftCell] = {}
    for r in sorted(results, key=lambda r: r.window_start):
        if r.kind is not SignalKind.FEATURE_DRIFT:
            continue
        for column, figures in _column_entries(r.details):
            statistic = str(figures.get("statistic") or figures.get("method") or "")
            score = _number(figures.get("score", figures.get("value")))
            threshold = _number(figures.get("threshold"))
            if statistic in ("ks", "chi2") or figures.get("p_value") is True:
                score = None if score is None else 1 - score
                threshold = None if threshold is None else 1 - threshold
            drifted = figures.get("drifted")
            cells[(column, r.window_start)] = mc.DriftCell(
                at=r.window_start,
                feature=column,
                score=score,
                drifted=drifted if isinstance(drifted, bool) else None,
                threshold=threshold,
                statistic=mc_statistic(statistic),
            )
    return list(cells.values())


def mc_statistic(statistic: str) -> str:
    return VERDICT_STATISTICS.get(statistic, statistic)


def _label(model: str, version: int | str) -> str:
    return f"{model}@{version}"


def performance_figures(
    metric: str, realised: Sequence[WindowMetrics], estimates: Sequence[Estimate]
) -> list[mc.Figure]:
    """One metric per version and window: the realised figure with its bootstrap band where
    labels came, the CBPE estimate with its band where they have not (an estimate the outcomes
    service already replaced by the realised figure comes back `estimated=False`, and is drawn
    once, as realised)."""
    figures: dict[tuple[str, int, bool], mc.Figure] = {}
    for w in realised:
        value = w.metrics.get(metric)
        band = w.bands.get(metric)
        key = (_label(w.model, w.version), w.start, False)
        figures[key] = mc.Figure(
            at=w.start, label=key[0], value=value, low=band.low if band else None,
            high=band.high if band else None, samples=w.samples,
        )  # fmt: skip
    for e in estimates:
        if e.metric != metric:
            continue
        key = (_label(e.model, e.version), e.start, e.estimated)
        if not e.estimated and key in figures:
            continue  # the realised figure, already there with its bootstrap band
        figures[key] = mc.Figure(
            at=e.start, label=key[0], value=e.value, low=e.band.low, high=e.band.high,
            estimated=e.estimated, samples=e.samples,
        )  # fmt: skip
    return list(figures.values())


def calibration_curves(realised: Sequence[WindowMetrics]) -> list[dict[str, Any]]:
    """One reliability curve per version over the shown windows: each window's bins pooled
    into ten equal-width bins of the mean predicted probability, weighted by their counts."""
    pooled: dict[str, list[list[float]]] = {}
    for w in realised:
        if w.reliability is None:
            continue
        bins = pooled.setdefault(
            _label(w.model, w.version), [[0.0, 0.0, 0.0] for _ in range(CALIBRATION_BINS)]
        )
        rel = w.reliability
        for p, rate, count in zip(rel.mean_predicted, rel.positive_rate, rel.count, strict=False):
            i = min(int(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)
            bins[i][0] += p * count
            bins[i][1] += rate * count
            bins[i][2] += count
    curves = []
    for label, bins in sorted(pooled.items()):
        kept = [b for b in bins if b[2] > 0]
        total = sum(b[2] for b in kept)
        curves.append(
            {
                "label": label,
                "mean_predicted": [round(b[0] / b[2], 6) for b in kept],
                "positive_rate": [round(b[1] / b[2], 6) for b in kept],
                "count": [int(b[2]) for b in kept],
                "ece": sum(abs(b[0] - b[1]) for b in kept) / total if total else None,
            }
        )
    return curves


def kpi_figures(kpis: Sequence[Kpi]) -> dict[str, list[mc.Figure]]:
    """KPI name -> its figures, one series per version it is attributed to (or the endpoint)."""
    found: dict[str, list[mc.Figure]] = {}
    for k in kpis:
        label = _label(k.model, k.version) if k.model and k.version else "endpoint"
        found.setdefault(k.name, []).append(mc.Figure(at=k.at, label=label, value=k.value))
    return dict(sorted(found.items()))


def latency_charts(
    points: list[WindowPoint], bucket_s: int, event_marks: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The endpoint page's error-rate and latency charts per version, with the marks."""
    charts = [
        c for c in servingviews.charts(points, bucket_s) if c["title"] != "Requests per bucket"
    ]
    for c in charts:
        c["marks"] = event_marks
    return charts


def monitor_rows(
    monitors: Sequence[Monitor], latest: dict[str, MonitorResult]
) -> list[dict[str, Any]]:
    """Each monitor with its last result: breached first, then no data, then fine."""
    rows = []
    for m in monitors:
        r = latest.get(m.name)
        state = "no result yet" if r is None else (
            "breached" if r.breached else "no data" if r.breached is None else "ok"
        )  # fmt: skip
        rows.append({"monitor": m, "result": r, "state": state})
    order = {"breached": 0, "no data": 1, "no result yet": 2, "ok": 3}
    return sorted(rows, key=lambda row: (order[row["state"]], row["monitor"].name))


# -- the page ----------------------------------------------------------------------------------


def _monitors(
    services: Services, principal: Principal, project: str, endpoint: str
) -> tuple[list[Monitor], dict[str, MonitorResult]]:
    """The endpoint's monitors and each one's newest result."""
    found = services.monitoring.statuses(principal, project, endpoint=endpoint)
    return [s.monitor for s in found], {s.monitor.name: s.latest for s in found if s.latest}


def _context(
    services: Services, principal: Principal, project: str, name: str, range_: str
) -> dict[str, Any]:
    span, bucket = RANGES[range_]
    until = now_ms()
    since = until - span
    since -= since % HOUR  # whole windows
    endpoint = services.deployments.get_endpoint(principal, project, name)
    events = services.deployments.history(principal, project, name, limit=HISTORY_LIMIT).items
    event_marks = mc.marks(events, since, until)
    monitors, latest = _monitors(services, principal, project, name)
    by_monitor = {
        m.name: services.monitoring.results(
            principal, project, m.name, since=since, until=until, limit=RESULTS_LIMIT
        )
        for m in monitors
        if m.kind in CHARTED_KINDS
    }
    results = [r for found in by_monitor.values() for r in found]
    realised = services.outcomes.window_metrics(principal, project, name, since=since, until=until)
    estimates = services.outcomes.estimates(principal, project, name, since=since, until=until)
    kpis = services.outcomes.kpis(principal, project, name, since=since, until=until)
    points = services.deployments.windows(
        principal, project, name, since=since, until=until, bucket_s=bucket // 1000
    )

    charts: list[dict[str, Any]] = []
    sections: dict[str, list[dict[str, Any]]] = {
        "performance": [], "latency": [], "kpis": [], "prediction": [], "contract": [], "slo": []
    }  # fmt: skip

    def add(section: str, spec: dict[str, Any] | None, rows: Any, slug: str) -> None:
        if spec is None:
            return
        charts.append(spec)
        sections[section].append({"i": len(charts) - 1, "spec": spec, "rows": rows, "slug": slug})

    for figure, title, ylabel, unit in ms.PREDICTION_FIGURES:
        found = ms.prediction_figures(results)[figure]
        add("prediction", mc.band_chart(title, ylabel, found, event_marks, unit=unit),
            mc.figure_rows(found), f"prediction-{figure.replace('_', '-')}")  # fmt: skip
    violations = ms.violation_figures(results)
    add("contract", mc.band_chart("Contract violations", "failed checks", violations, event_marks),
        mc.figure_rows(violations), "contract-violations")  # fmt: skip
    for m in monitors:
        if m.kind is SignalKind.SLO:
            spec, rows = ms.slo_chart(f"Burn rate: {m.name}", by_monitor.get(m.name, []),
                                      event_marks, since, until)  # fmt: skip
            add("slo", spec, rows, f"slo-{m.name}")
    for metric, title, unit in PERFORMANCE_CHARTS:
        figures = performance_figures(metric, realised, estimates)
        add("performance", mc.band_chart(title, metric, figures, event_marks, unit=unit),
            mc.figure_rows(figures), metric)  # fmt: skip
    curves = calibration_curves(realised)
    calibration = mc.calibration_chart(curves)
    calibration_view = None
    if calibration is not None:
        calibration_view = {"i": len(charts), "curves": curves}
        charts.append(calibration)
    for spec in latency_charts(points, bucket // 1000, event_marks):
        add("latency", spec, mc.spec_rows(spec), spec["title"].lower().replace(" ", "-"))
    for kpi, figures in kpi_figures(kpis).items():
        add("kpis", mc.band_chart(kpi, "value", figures, event_marks), mc.figure_rows(figures),
            f"kpi-{kpi}")  # fmt: skip
    for spec in charts:
        if spec.get("time"):
            spec["xrange"] = [since / 1000, until / 1000]  # every chart on the same time axis
    cells = drift_cells(results)
    checks = ms.violation_cells(results)
    return {
        "endpoint": endpoint,
        "monitors": monitor_rows(monitors, latest),
        "heat": mc.heatmap(cells, since, until, HOUR, event_marks),
        "heat_table": mc.heat_table(cells),
        "checks_heat": mc.heatmap(checks, since, until, HOUR, event_marks, ms.CONTRACT_VERDICTS),
        "checks_table": mc.heat_table(checks),
        "charts": charts,
        "sections": sections,
        "calibration": calibration_view,
        "totals": servingviews.totals(points),
        "marks": event_marks,
        "since": since,
        "until": until,
        "bucket_label": BUCKET_LABELS[range_],
        "may_write": principal.may(Action.MONITOR_WRITE, project),
    }


async def render_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    name: str,
    range_: str = "24h",
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """The page, maybe with a form's refusal beside the form (`error`: form, message, field,
    typed) and a notice of what a form just did."""
    range_ = range_ if range_ in RANGES else "24h"
    found = await offload(_context, services, principal, project, name, range_)
    may_write = found["may_write"]
    context = {
        "project": project,
        **found,
        "range": range_,
        "ranges": list(RANGES),
        "version_url": servingviews.version_url,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "kinds": KIND_HELP if may_write else {},
        "figures": {k.value: v for k, v in FIGURES.items()},
        "default_conditions": {k.value: v for k, v in DEFAULT_CONDITIONS.items()},
        "severities": [s.value for s in Severity],
        "members": (
            sorted(
                m.user for m in await offload(services.identity.list_members, principal, project)
            )
            if may_write
            else []
        ),
        "refresh_s": REFRESH_S,
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{_q(project)}"),
            ("Endpoints", f"/projects/{_q(project)}/endpoints"),
            (name, f"/projects/{_q(project)}/endpoints/{_q(name)}"),
            ("Monitoring", None),
        ],
    }
    return render(request, "monitoring.html", context, principal=principal, status=status)


@router.get(
    "/projects/{project}/endpoints/{name}/monitoring", openapi_extra=policy(Action.MONITOR_READ)
)
async def monitoring_page(
    request: Request,
    project: str,
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    range: str = "24h",
) -> Response:
    return await render_page(request, services, principal, project, name, range)
