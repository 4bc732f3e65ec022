"""What the monitoring page draws, from figures the monitoring and outcomes services answer.

Pure functions over two small shapes the page adapters fill (`Figure`: one value of one series in
one window, with its band and whether it is an estimate; `DriftCell`: one feature's drift in one
window), and the endpoint's deployment events, which every chart marks:

- `band_chart`: a `lines` spec for `static/data.js` on a time axis, one series per version (an
  estimate dashed, beside the realised figure), each with its band (`low`/`high`), and the
  deployment events as `marks` (vertical lines with their kind);
- `heatmap`: the geometry of an SVG heat map of drift per feature (rows) over windows (columns),
  drawn by the server (no script needed; colours are CSS classes, since the CSP allows no inline
  style), with the same marks;
- the numbers behind each chart as table rows, for the table beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.deployments.models import DeploymentEvent

HEAT_CLASSES = 6  # heat-0 .. heat-5 in tandem.css, from no drift to twice the threshold
HEAT_ROW_H = 18  # px per feature in the SVG's own units
HEAT_LABEL_W = 130  # px for the feature names
HEAT_MIN_W = 560  # the SVG's drawing width; narrower screens scroll the box, not the page
HEAT_TOP = 16  # px above the cells, for the event labels
HEAT_AXIS_H = 22  # px below the cells, for the time ticks
MAX_FEATURES = 40  # rows of the heat map (the most drifted first); the table has them all
MARK_KINDS = {  # deployment events worth a line on a chart
    "deployed", "promoted", "rolled-back", "completed", "failed", "step", "paused", "resumed",
}  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One value of one series (a version, or a KPI) in one window."""

    at: int  # the window's start, ms since the epoch
    label: str  # model@version, or a KPI's name
    value: float | None
    low: float | None = None
    high: float | None = None
    estimated: bool = False
    samples: int | None = None


@dataclass(frozen=True)
class DriftCell:
    """One feature's drift in one window: `score` grows with drift; `drifted` is the verdict."""

    at: int
    feature: str
    score: float | None
    drifted: bool | None
    threshold: float | None = None
    statistic: str = ""


def _finite(value: float | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _clock(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _short(ms: int, span_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%H:%M" if span_ms <= 2 * 86_400_000 else "%m-%d")


# -- deployment events -------------------------------------------------------------------------


def event_text(event: DeploymentEvent) -> str:
    """One line saying what an event did: `rolled-back to churn-lr@1 by ada`."""
    after = ", ".join(f"{label} {weight:g}%" for label, weight in event.after.items())
    return f"{event.kind.value}: {after or 'nothing'} ({event.actor}, {_clock(event.at)} UTC)"


def marks(events: Iterable[DeploymentEvent], since: int, until: int) -> list[dict[str, Any]]:
    """The deployment events in [since, until) that change what serves, oldest first, as
    `{"x": seconds, "at": ms, "kind", "text"}` for the charts and the tables under them."""
    found = [
        {"x": e.at / 1000, "at": e.at, "kind": e.kind.value, "seq": e.seq, "text": event_text(e)}
        for e in events
        if since <= e.at < until and e.kind.value in MARK_KINDS
    ]
    return sorted(found, key=lambda m: m["at"])


# -- lines with bands --------------------------------------------------------------------------


def _series_name(figure: Figure) -> str:
    return f"{figure.label} (estimated)" if figure.estimated else figure.label


def band_chart(
    title: str,
    ylabel: str,
    figures: Sequence[Figure],
    event_marks: list[dict[str, Any]],
    *,
    unit: bool = False,
) -> dict[str, Any] | None:
    """A `lines` spec: one series per label (estimates apart and dashed), x in seconds, each
    with its band where the figures have one; None when no figure has a value. `unit`: a
    score (ROC AUC, accuracy), whose axis fits the values and bands rather than start at 0."""
    if not any(_finite(f.value) is not None for f in figures):
        return None
    grouped: dict[str, list[Figure]] = {}
    for f in sorted(figures, key=lambda f: (f.estimated, f.label, f.at)):
        grouped.setdefault(_series_name(f), []).append(f)
    series = []
    for name, mine in grouped.items():
        mine.sort(key=lambda f: f.at)
        one: dict[str, Any] = {
            "label": name,
            "x": [f.at / 1000 for f in mine],
            "y": [_finite(f.value) for f in mine],
        }
        if any(_finite(f.low) is not None and _finite(f.high) is not None for f in mine):
            one["low"] = [_finite(f.low) for f in mine]
            one["high"] = [_finite(f.high) for f in mine]
        if mine[0].estimated:
            one["dash"] = True
        series.append(one)
    spec: dict[str, Any] = {
        "title": title,
        "type": "lines",
        "time": True,
        "points": True,
        "xlabel": "window start (UTC)",
        "ylabel": ylabel,
        "series": series,
        "marks": event_marks,
    }
    if unit:
        spec["zero"] = False  # around the values and bands: a ROC AUC near 0.8 is not flat
    return spec


def spec_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The numbers behind a `lines` spec on a time axis, newest first (for charts built
    elsewhere, such as the endpoint's latency and error charts)."""
    figures = [
        Figure(at=round(x * 1000), label=s["label"], value=y)
        for s in spec["series"]
        for x, y in zip(s["x"], s["y"], strict=False)
    ]
    return figure_rows(figures)


def figure_rows(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """The numbers behind a band chart, newest window first."""
    rows = []
    for f in sorted(figures, key=lambda f: (-f.at, f.label, f.estimated)):
        rows.append(
            {
                "at": f.at,
                "label": f.label,
                "value": _finite(f.value),
                "low": _finite(f.low),
                "high": _finite(f.high),
                "estimated": f.estimated,
                "samples": f.samples,
            }
        )
    return rows


def calibration_chart(curves: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Reliability curves, one per version (`label`, `mean_predicted`, `positive_rate`, `ece`),
    and the diagonal of a perfectly calibrated model."""
    drawn = [c for c in curves if c.get("mean_predicted")]
    if not drawn:
        return None
    series: list[dict[str, Any]] = [
        {"label": c["label"], "x": list(c["mean_predicted"]), "y": list(c["positive_rate"])}
        for c in drawn
    ]
    series.append({"label": "perfectly calibrated", "x": [0, 1], "y": [0, 1], "dash": True})
    return {
        "title": "Calibration",
        "type": "lines",
        "unit": True,
        "points": True,
        "solid": True,  # every version drawn alike; only the diagonal is dashed
        "xlabel": "mean predicted probability",
        "ylabel": "observed positive rate",
        "series": series,
    }


# -- the drift heat map ------------------------------------------------------------------------


def heat_class(cell: DriftCell, top: float) -> str:
    """`heat-0` (no drift) to `heat-5` (twice the threshold or more); `heat-none`: no data."""
    score = _finite(cell.score)
    if score is None:
        return "heat-none"
    scale = cell.threshold * 2 if cell.threshold else top
    share = min(max(score / scale, 0.0), 1.0) if scale and scale > 0 else 0.0
    return f"heat-{min(int(share * HEAT_CLASSES), HEAT_CLASSES - 1)}"


def _features(cells: Sequence[DriftCell]) -> list[str]:
    """Features, the most drifted first (windows drifted, then the highest score), by name."""
    drifted: dict[str, int] = {}
    worst: dict[str, float] = {}
    for c in cells:
        drifted[c.feature] = drifted.get(c.feature, 0) + (1 if c.drifted else 0)
        score = _finite(c.score)
        relative = score / c.threshold if score is not None and c.threshold else score or 0.0
        worst[c.feature] = max(worst.get(c.feature, 0.0), relative)
    return sorted(drifted, key=lambda f: (-drifted[f], -worst[f], f))


def heatmap(
    cells: Sequence[DriftCell],
    since: int,
    until: int,
    window_ms: int,
    event_marks: list[dict[str, Any]],
    verdicts: tuple[str, str] = ("drifted", "no drift"),
) -> dict[str, Any] | None:
    """The SVG geometry of drift per feature over the windows of [since, until), or None.
    `verdicts`: what a cell's tooltip calls a breach and its absence (the contract's checks
    are drawn the same way: `violated`, `held`)."""
    if not cells or until <= since or window_ms <= 0:
        return None
    features = _features(cells)[:MAX_FEATURES]
    starts = list(range(since - since % window_ms, until, window_ms))
    width = HEAT_MIN_W - HEAT_LABEL_W
    cell_w = width / max(len(starts), 1)
    span = starts[-1] + window_ms - starts[0]
    top = max((_finite(c.score) or 0.0 for c in cells), default=0.0)

    def x_of(ms: float) -> float:
        return round(HEAT_LABEL_W + (ms - starts[0]) / span * width, 2)

    drawn = []
    row_of = {f: i for i, f in enumerate(features)}
    for c in cells:
        if c.feature not in row_of or not starts[0] <= c.at < starts[-1] + window_ms:
            continue
        column = (c.at - starts[0]) // window_ms
        score = _finite(c.score)
        verdict = verdicts[0] if c.drifted else verdicts[1] if c.drifted is False else "no verdict"
        statistic = f" {c.statistic}" if c.statistic else ""
        drawn.append(
            {
                "x": round(HEAT_LABEL_W + column * cell_w, 2),
                "y": HEAT_TOP + row_of[c.feature] * HEAT_ROW_H,
                "w": round(cell_w, 2),
                "h": HEAT_ROW_H,
                "cls": heat_class(c, top) + (" drifted" if c.drifted else ""),
                "title": f"{c.feature}, {_clock(c.at)} UTC:{statistic} "
                f"{'no data' if score is None else f'{score:.4g}'} ({verdict})",
            }
        )
    height = HEAT_TOP + len(features) * HEAT_ROW_H
    every = max(1, math.ceil(len(starts) / 8))
    ticks = [  # the last label would be cut off at the right edge
        {"x": x_of(s), "text": _short(s, span)}
        for s in starts[::every]
        if x_of(s) <= HEAT_MIN_W - 30
    ]
    lines = [
        {**m, "px": x_of(m["at"]), "anchor": "end" if x_of(m["at"]) > HEAT_MIN_W - 60 else "start"}
        for m in event_marks
        if starts[0] <= m["at"] < starts[0] + span
    ]
    return {
        "width": HEAT_MIN_W,
        "height": height + HEAT_AXIS_H,
        "bottom": height,
        "top": HEAT_TOP,
        "label_w": HEAT_LABEL_W,
        "rows": [
            {"feature": f, "y": HEAT_TOP + i * HEAT_ROW_H + HEAT_ROW_H * 0.7}
            for i, f in enumerate(features)
        ],
        "cells": drawn,
        "ticks": ticks,
        "marks": lines,
        "hidden": max(0, len(_features(cells)) - MAX_FEATURES),
    }


def heat_table(cells: Sequence[DriftCell]) -> dict[str, Any]:
    """The heat map's numbers: one row per feature (most drifted first), one column per window
    (oldest first), each cell the score and whether it drifted."""
    windows = sorted({c.at for c in cells})
    found = {(c.feature, c.at): c for c in cells}
    rows = []
    for feature in _features(cells):
        row = []
        for at in windows:
            c = found.get((feature, at))
            row.append(None if c is None else {"score": _finite(c.score), "drifted": c.drifted})
        rows.append({"feature": feature, "cells": row})
    return {"windows": windows, "rows": rows}
