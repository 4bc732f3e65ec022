"""The monitoring page's charts of the monitors' own results: prediction drift (the score
distribution's drift and the positive rate per version), contract violations per check over
time, and the SLOs' burn rates per window pair against their thresholds.

Adapters from `MonitorResult` (its `details`, which the monitoring domain fills: `figures` for
every kind, `failed` checks for the contract, `pairs` for an SLO) to `monitorcharts` shapes;
nothing here computes a figure the service did not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem.monitoring.models import MonitorResult, SignalKind
from tandem.web import monitorcharts as mc

PREDICTION_FIGURES = (  # figure, chart title, axis label, a share on [0, 1]
    ("score_drift", "Score distribution drift", "drift statistic (PSI)", False),
    ("positive_rate", "Positive rate", "share of positive predictions", True),
)
CONTRACT_VERDICTS = ("violated", "held")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _figure(result: MonitorResult, name: str) -> float | None:
    figures = result.details.get("figures")
    return _number(figures.get(name)) if isinstance(figures, dict) else None


def _series(result: MonitorResult) -> str:
    """A series per version the window's traffic mostly went to, else per monitor."""
    return result.version or result.monitor


def prediction_figures(results: Sequence[MonitorResult]) -> dict[str, list[mc.Figure]]:
    """figure name -> its values per version and window, from prediction-drift results."""
    found: dict[str, list[mc.Figure]] = {name: [] for name, *_ in PREDICTION_FIGURES}
    for r in results:
        if r.kind is not SignalKind.PREDICTION_DRIFT or r.breached is None:
            continue
        for name in found:
            found[name].append(
                mc.Figure(
                    at=r.window_start, label=_series(r), value=_figure(r, name), samples=r.samples
                )
            )
    return found


def violation_figures(results: Sequence[MonitorResult]) -> list[mc.Figure]:
    """Failed contract checks per window (one series per version)."""
    return [
        mc.Figure(
            at=r.window_start, label=_series(r), value=_figure(r, "violations"), samples=r.samples
        )
        for r in results
        if r.kind is SignalKind.CONTRACT and r.breached is not None
    ]


def _check_name(failed: dict[str, Any]) -> str:
    column = failed.get("column")
    kind = failed.get("kind") or failed.get("id") or "check"
    return f"{column}: {kind}" if column else str(kind)


def violation_cells(results: Sequence[MonitorResult]) -> list[mc.DriftCell]:
    """Each contract check that failed in some window, in every judged window: 1 where it
    failed, 0 where it held (a window judged without it among the failures)."""
    judged = [r for r in results if r.kind is SignalKind.CONTRACT and r.breached is not None]
    failures: dict[tuple[str, int], dict[str, Any]] = {}
    for r in judged:
        for failed in r.details.get("failed") or []:
            if isinstance(failed, dict):
                failures[(_check_name(failed), r.window_start)] = failed
    checks = sorted({name for name, _ in failures})
    cells: dict[tuple[str, int], mc.DriftCell] = {}
    for r in judged:
        for name in checks:
            failed = failures.get((name, r.window_start))
            cells[(name, r.window_start)] = mc.DriftCell(
                at=r.window_start, feature=name, score=1.0 if failed else 0.0,
                drifted=failed is not None, threshold=0.5,
            )  # fmt: skip
    return list(cells.values())


def _pair_label(pair: dict[str, Any]) -> str:
    long = (pair.get("long") or {}).get("window", "?")
    short = (pair.get("short") or {}).get("window", "?")
    return f"{pair.get('severity', '?')}: {long} and {short}"


def slo_chart(
    title: str,
    results: Sequence[MonitorResult],
    event_marks: list[dict[str, Any]],
    since: int,
    until: int,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One SLO monitor's burn rates: per window pair, the long window's burn rate over time
    (the short one, which confirms it still burns, is in the table), each pair's threshold as a
    dashed line; and the table's rows, newest first."""
    figures: list[mc.Figure] = []
    rows: list[dict[str, Any]] = []
    thresholds: dict[str, float] = {}
    for r in sorted(results, key=lambda r: -r.window_start):
        for pair in r.details.get("pairs") or []:
            if not isinstance(pair, dict):
                continue
            label = _pair_label(pair)
            factor = _number(pair.get("factor"))
            if factor is not None:
                thresholds.setdefault(label, factor)
            long = _number((pair.get("long") or {}).get("burn_rate"))
            short = _number((pair.get("short") or {}).get("burn_rate"))
            if long is None and short is None:
                continue  # no requests in either window (before the traffic began)
            figures.append(mc.Figure(at=r.window_start, label=label, value=long))
            rows.append({"at": r.window_start, "pair": label, "long": long, "short": short,
                         "threshold": factor, "firing": pair.get("firing")})  # fmt: skip
    spec = mc.band_chart(title, "burn rate (x the error budget)", figures, event_marks)
    if spec is not None:
        for label, factor in thresholds.items():
            spec["series"].append(
                {
                    "label": f"{label} threshold {factor:g}x",
                    "dash": True,
                    "x": [since / 1000, until / 1000],
                    "y": [factor, factor],
                }
            )
    return spec, rows
