"""What the dataset pages draw and summarise, from the JSON the data service answers.

Pure functions over a version's profile summary (`tandem.data.profile.Profile.summary`), its
validation result (`tandem.data.validate.ValidationResult.to_json`) and a drift report
(`tandem.data.drift.DriftReport.to_json`). Charts are specs for `static/data.js`, which draws
them with uPlot:

    {"type": "hist", "x": [edges...], "series": [{"label", "values", "edges"?}], "y": "rows"}
    {"type": "cats", "x": [labels...], "series": [{"label", "values"}], "y": "share"}

A `hist` has len(edges) - 1 values per series; a series may carry its own `edges` (two
profiles binned differently). A `cats` has one value per label.
"""

from __future__ import annotations

import math
from typing import Any

NULL_LABEL = "(null)"
OTHER = "(other)"  # the drift report's bucket for values outside the frequent lists
LABEL_LIMIT = 80  # characters of a category shown in a chart (the table shows it whole)
MIN_TOP_SHARE = 0.05  # below this share of the values, frequent values make no useful chart
VERDICT_STATISTICS = {  # `statistic` of a column: what its verdict was read from
    "psi": "PSI",
    "jensen_shannon": "Jensen-Shannon distance",
    "wasserstein": "Wasserstein / std",
    "ks": "KS p-value",
    "chi2": "chi-square p-value",
}
STATISTICS = {  # the keys of a column's `statistics`
    "psi": "PSI",
    "jensen_shannon": "Jensen-Shannon",
    "wasserstein": "Wasserstein",
    "wasserstein_normed": "Wasserstein / std",
    "ks": "KS D",
    "ks_p_value": "KS p-value",
    "chi2": "chi-square",
    "chi2_p_value": "chi-square p-value",
}
_P_VALUES = {"ks", "chi2"}  # drift when the p-value is below the threshold


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def label(value: Any) -> str:
    if value is None:
        return NULL_LABEL
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not text.strip():
        return f'"{text}"'  # an empty or blank value, visibly
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _shares(values: list[Any], total: float | None = None) -> list[float]:
    whole = total if total else sum(v for v in values if is_number(v))
    return [round(v / whole, 6) if whole and is_number(v) else 0.0 for v in values]


def _binned(edges: list[Any], series: list[dict[str, Any]], y: str) -> dict[str, Any]:
    """A histogram; bins whose edges are not numbers (times, infinities) as labelled bars."""
    if all(is_number(e) for e in edges):
        return {"type": "hist", "x": edges, "series": series, "y": y}
    return {"type": "cats", "x": [label(e) for e in edges[:-1]], "series": series, "y": y}


# -- one version -------------------------------------------------------------------------------


def column_chart(summary: dict[str, Any]) -> dict[str, Any] | None:
    """A column's chart on the version page: its histogram (numbers, times) or its most frequent
    values (strings, categories, booleans); None when there is nothing worth drawing."""
    hist = summary.get("histogram")
    if hist and hist.get("counts"):
        return _binned(hist["edges"], [{"label": "rows", "values": hist["counts"]}], "rows")
    top = summary.get("top") or []
    if not top or max(int(count) for _value, count in top) <= 1:
        return None  # no values, or every value seen once: bars of height 1 say nothing
    count = summary.get("count") or 0
    if count and sum(int(c) for _value, c in top) / count < MIN_TOP_SHARE:
        return None  # a few values among very many different ones
    return {
        "type": "cats",
        "x": [label(value) for value, _count in top],
        "series": [{"label": "rows", "values": [int(count) for _value, count in top]}],
        "y": "rows",
    }


def profile_rows(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per column for the profile table, with its chart. The frequent values of the
    columns the service masked (flagged by the PII scan, or classified as sensitive by the
    contract) are not shown, even masked: a page lists them to everyone who may read the
    dataset."""
    if not profile:
        return []
    rows = []
    for name, summary in (profile.get("columns") or {}).items():
        quantiles = summary.get("quantiles") or {}
        top = summary.get("top") or []
        hidden = bool(summary.get("masked")) and bool(top)
        chart = column_chart(summary)
        rows.append(
            {
                "name": name,
                "summary": summary,
                "p25": quantiles.get("p25"),
                "p50": quantiles.get("p50"),
                "p75": quantiles.get("p75"),
                "top": None if hidden else top[0] if top else None,
                "personal": hidden,
                "chart": None if hidden and chart and chart["type"] == "cats" else chart,
            }
        )
    return rows


def validation_view(result: dict[str, Any] | None, blocking: frozenset[str]) -> dict[str, Any]:
    """The verdict of a validation result and its checks, failures first."""
    if not result:
        return {"verdict": None, "tone": "", "checks": [], "failed": 0, "not_run": 0, "passed": 0}
    checks = list(result.get("checks") or [])
    failed = [c for c in checks if c.get("passed") is False]
    not_run = [c for c in checks if c.get("passed") is None]
    if any(c.get("severity") in blocking for c in failed):
        verdict = "failed"
    elif failed:
        verdict = "passed with warnings"
    else:
        verdict = "passed"
    order = {False: 0, None: 1, True: 2}
    return {
        "verdict": verdict,
        "tone": {"failed": "failed", "passed": "passed"}.get(verdict, "warning"),
        "result": result,
        "checks": sorted(checks, key=lambda c: order.get(c.get("passed"), 2)),
        "failed": len(failed),
        "not_run": len(not_run),
        "passed": len(checks) - len(failed) - len(not_run),
    }


# -- two versions ------------------------------------------------------------------------------


def drift_chart(column: dict[str, Any], names: tuple[str, str]) -> dict[str, Any] | None:
    """Both versions' distributions of one column, binned alike by the drift report."""
    chart = column.get("chart") or {}
    series: list[dict[str, Any]] = [
        {"label": names[0], "values": chart.get("reference") or []},
        {"label": names[1], "values": chart.get("current") or []},
    ]
    if chart.get("edges") and series[0]["values"]:
        return _binned(chart["edges"], series, "share")
    if chart.get("categories") and series[0]["values"]:
        labels = [label(c) for c in chart["categories"]]
        others = [i for i, c in enumerate(chart["categories"]) if c == OTHER]
        if min(sum(s["values"][i] for i in others) for s in series) > 1 - MIN_TOP_SHARE:
            return None  # nearly every value outside the frequent ones: nothing to see
        return {"type": "cats", "x": labels, "series": series, "y": "share"}
    return None


def profiles_chart(
    a: dict[str, Any] | None, b: dict[str, Any] | None, names: tuple[str, str]
) -> dict[str, Any] | None:
    """Without a drift chart: both columns' own histograms (each binned its own way) or their
    most frequent values, as shares of their values."""
    if not a or not b:
        return None
    hist_a, hist_b = a.get("histogram"), b.get("histogram")
    if hist_a and hist_b:
        edges = [*hist_a["edges"], *hist_b["edges"]]
        if all(is_number(e) for e in edges):
            return {
                "type": "hist",
                "x": hist_a["edges"],
                "series": [
                    {"label": names[0], "values": _shares(hist_a["counts"]),
                     "edges": hist_a["edges"]},
                    {"label": names[1], "values": _shares(hist_b["counts"]),
                     "edges": hist_b["edges"]},
                ],
                "y": "share",
            }  # fmt: skip
    top_a = {label(v): int(c) for v, c in a.get("top") or []}
    top_b = {label(v): int(c) for v, c in b.get("top") or []}
    if column_chart(a) is None and column_chart(b) is None:
        return None  # no values, or too many different ones
    labels = sorted({*top_a, *top_b}, key=lambda k: -(top_a.get(k, 0) + top_b.get(k, 0)))[:20]
    return {
        "type": "cats",
        "x": labels,
        "series": [
            {"label": names[0], "values": _shares([top_a.get(k, 0) for k in labels],
                                                  a.get("count"))},
            {"label": names[1], "values": _shares([top_b.get(k, 0) for k in labels],
                                                  b.get("count"))},
        ],
        "y": "share",
    }  # fmt: skip


def drift_rows(drift: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per compared column: the statistic that decided, its value, the threshold and
    which way it is read, and the other statistics computed."""
    if not drift:
        return []
    rows = []
    for column in drift.get("columns") or []:
        statistic = column.get("statistic")
        others = {
            STATISTICS.get(k, k): v
            for k, v in (column.get("statistics") or {}).items()
            if v is not None
        }
        rows.append(
            {
                "column": column,
                "statistic": VERDICT_STATISTICS.get(statistic or "", statistic or ""),
                "rule": "<" if statistic in _P_VALUES else "≥",
                "others": others,
            }
        )
    return rows


def row_change(rows: dict[str, Any]) -> dict[str, Any] | None:
    a, b = rows.get("a"), rows.get("b")
    if not isinstance(a, int) or not isinstance(b, int):
        return None
    return {"delta": b - a, "share": (b - a) / a if a else None}
