"""What the monitoring page draws (tandem.web.monitorcharts): deployment events as marks, lines
with bands (estimates apart and dashed), the calibration chart, and the drift heat map's
geometry and table."""

from __future__ import annotations

import pytest

from tandem.deployments.models import DeploymentEvent, EventKind
from tandem.web import monitorcharts as mc

HOUR = 3_600_000
T = 1_790_000_000_000 - 1_790_000_000_000 % HOUR  # a whole hour


def _event(seq: int, at: int, kind: EventKind = EventKind.DEPLOYED) -> DeploymentEvent:
    return DeploymentEvent(seq=seq, endpoint="prod", kind=kind, at=at, actor="ada",
                           actor_kind="person", before={}, after={"churn-lr@2": 100.0},
                           policy_version=seq)  # fmt: skip


def test_marks_keep_the_events_that_change_what_serves_in_the_range() -> None:
    events = [
        _event(3, T + 5 * HOUR, EventKind.ROLLED_BACK),
        _event(2, T + HOUR, EventKind.SETTINGS),  # not a traffic change: no mark
        _event(1, T - HOUR),  # before the range
        _event(4, T + 2 * HOUR),
    ]
    marks = mc.marks(events, T, T + 24 * HOUR)
    assert [(m["seq"], m["kind"], m["x"]) for m in marks] == [
        (4, "deployed", (T + 2 * HOUR) / 1000),
        (3, "rolled-back", (T + 5 * HOUR) / 1000),
    ]
    assert marks[1]["text"].startswith("rolled-back: churn-lr@2 100% (ada, ")


def test_band_chart_puts_estimates_apart_dashed_with_their_bands() -> None:
    figures = [
        mc.Figure(at=T, label="churn-lr@1", value=0.81, low=0.78, high=0.84, samples=900),
        mc.Figure(at=T + HOUR, label="churn-lr@1", value=0.79, low=0.75, high=0.83),
        mc.Figure(at=T + 2 * HOUR, label="churn-lr@1", value=0.74, low=0.70, high=0.78,
                  estimated=True),
        mc.Figure(at=T + HOUR, label="churn-lr@2", value=None),
    ]  # fmt: skip
    marks = mc.marks([_event(1, T + HOUR)], T, T + 3 * HOUR)
    spec = mc.band_chart("ROC AUC", "roc_auc", figures, marks, unit=True)
    assert spec is not None
    assert spec["type"] == "lines" and spec["time"] and spec["zero"] is False
    assert spec["marks"] == marks
    by_label = {s["label"]: s for s in spec["series"]}
    assert list(by_label) == ["churn-lr@1", "churn-lr@2", "churn-lr@1 (estimated)"]
    realised = by_label["churn-lr@1"]
    assert realised["x"] == [T / 1000, (T + HOUR) / 1000]
    assert realised["y"] == [0.81, 0.79]
    assert realised["low"] == [0.78, 0.75] and realised["high"] == [0.84, 0.83]
    assert "dash" not in realised
    assert by_label["churn-lr@1 (estimated)"]["dash"] is True
    assert "low" not in by_label["churn-lr@2"]  # no band, no value: drawn as a gap
    rows = mc.figure_rows(figures)
    assert [(r["at"], r["label"], r["estimated"]) for r in rows][:2] == [
        (T + 2 * HOUR, "churn-lr@1", True),
        (T + HOUR, "churn-lr@1", False),
    ]
    assert mc.band_chart("x", "y", [mc.Figure(at=T, label="a", value=None)], []) is None


def test_calibration_chart_has_a_curve_per_version_and_the_diagonal() -> None:
    spec = mc.calibration_chart(
        [{"label": "churn-lr@1", "mean_predicted": [0.1, 0.5], "positive_rate": [0.2, 0.4]}]
    )
    assert spec is not None and spec["unit"] and spec["solid"]
    assert [s["label"] for s in spec["series"]] == ["churn-lr@1", "perfectly calibrated"]
    assert spec["series"][1]["dash"] is True
    assert mc.calibration_chart([{"label": "a", "mean_predicted": []}]) is None


def test_heatmap_rows_most_drifted_first_cells_coloured_against_the_threshold() -> None:
    cells = [
        mc.DriftCell(at=T, feature="age", score=0.05, drifted=False, threshold=0.2),
        mc.DriftCell(at=T + HOUR, feature="age", score=0.5, drifted=True, threshold=0.2),
        mc.DriftCell(at=T, feature="income", score=0.1, drifted=False, threshold=0.2),
        mc.DriftCell(at=T + HOUR, feature="income", score=None, drifted=None, threshold=0.2),
    ]
    marks = mc.marks([_event(1, T + HOUR)], T, T + 2 * HOUR)
    heat = mc.heatmap(cells, T, T + 2 * HOUR, HOUR, marks)
    assert heat is not None
    assert [r["feature"] for r in heat["rows"]] == ["age", "income"]
    by_key = {(c["y"], c["x"]): c for c in heat["cells"]}
    assert len(by_key) == 4
    age_late = next(c for c in heat["cells"] if "age" in c["title"] and "0.5" in c["title"])
    assert age_late["cls"] == "heat-5 drifted"  # 2.5 times the threshold
    income_late = next(c for c in heat["cells"] if "no data" in c["title"])
    assert income_late["cls"] == "heat-none"
    assert next(c["cls"] for c in heat["cells"] if c["title"].startswith("age")
                            and "0.05" in c["title"]) == "heat-0"  # fmt: skip
    assert len(heat["marks"]) == 1
    middle = heat["label_w"] + (heat["width"] - heat["label_w"]) / 2
    assert heat["marks"][0]["px"] == middle  # the event at the start of the second window
    table = mc.heat_table(cells)
    assert table["windows"] == [T, T + HOUR]
    assert table["rows"][0] == {
        "feature": "age",
        "cells": [{"score": 0.05, "drifted": False}, {"score": 0.5, "drifted": True}],
    }
    assert mc.heatmap([], T, T + HOUR, HOUR, []) is None


def test_heat_class_without_a_threshold_scales_by_the_largest_score() -> None:
    cell = mc.DriftCell(at=T, feature="x", score=2.0, drifted=None)
    assert mc.heat_class(cell, top=4.0) == "heat-3"
    assert mc.heat_class(cell, top=0.0) == "heat-0"


def test_adapters_from_the_domain_models() -> None:
    """Drift cells from feature-drift results (p-values turned so more is worse), one figure
    per version and window (a realised figure wins over its estimate), pooled calibration."""
    from tandem.monitoring.models import MonitorResult, Severity, SignalKind
    from tandem.outcomes.models import Band, Estimate, Reliability, WindowMetrics
    from tandem.web.monitoring import calibration_curves, drift_cells, performance_figures

    result = MonitorResult(
        project="vision", monitor="prod-drift", endpoint="prod", kind=SignalKind.FEATURE_DRIFT,
        severity=Severity.TICKET, window_start=T, window_end=T + HOUR, value=0.5,
        condition="drifted_share >= 0.25", breached=True, evaluated_at=T + HOUR,
        evaluated_by="worker", details={"columns": {
            "tenure": {"statistic": "ks", "value": 0.001, "threshold": 0.05, "drifted": True},
            "plan": {"statistic": "psi", "value": 0.02, "threshold": 0.2, "drifted": False},
        }},
    )  # fmt: skip
    cells = {c.feature: c for c in drift_cells([result])}
    assert cells["tenure"].score == pytest.approx(0.999) and cells["tenure"].drifted is True
    assert cells["tenure"].threshold == pytest.approx(0.95)
    assert cells["tenure"].statistic == "KS p-value"
    assert cells["plan"].score == 0.02 and cells["plan"].statistic == "PSI"

    def window(start: int) -> WindowMetrics:
        return WindowMetrics(
            endpoint="prod", model="churn-lr", version=2, start=start, end=start + HOUR,
            kind="binary", samples=100, metrics={"roc_auc": 0.8},
            bands={"roc_auc": Band(low=0.75, high=0.85)},
            reliability=Reliability(mean_predicted=[0.12, 0.18, 0.9], positive_rate=[0.1, 0.3, 1.0],
                                    count=[10, 30, 60]),
            updated_at=start,
        )  # fmt: skip

    def estimate(start: int, estimated: bool) -> Estimate:
        return Estimate(endpoint="prod", model="churn-lr", version=2, start=start,
                        end=start + HOUR, metric="roc_auc", value=0.7,
                        band=Band(low=0.6, high=0.8), estimated=estimated, samples=100)  # fmt: skip

    figures = performance_figures(
        "roc_auc", [window(T)], [estimate(T, False), estimate(T + HOUR, True)]
    )
    assert sorted((f.at, f.value, f.estimated, f.low) for f in figures) == [
        (T, 0.8, False, 0.75),  # the realised figure with its bootstrap band
        (T + HOUR, 0.7, True, 0.6),  # an estimate where no label came
    ]
    (curve,) = calibration_curves([window(T), window(T + HOUR)])
    assert curve["label"] == "churn-lr@2"
    assert curve["count"] == [80, 120]  # 0.12 and 0.18 pooled into one bin; 0.9 alone
    assert curve["mean_predicted"] == [pytest.approx(0.165), pytest.approx(0.9)]
    assert curve["positive_rate"] == [pytest.approx(0.25), pytest.approx(1.0)]
