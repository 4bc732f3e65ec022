"""One evaluation of predictions against labels: overall and per-slice metrics, fairness,
calibration, bootstrap intervals and the comparison with a baseline, as one JSON-ready report.

    report = evaluate_binary(y, score, slices={"sex": sex, "race": race}, protected=["sex", "race"])
    report["overall"]["roc_auc"], report["fairness"]["sex"]["demographic_parity_difference"]

This is pure computation on arrays; recording it against a model and dataset version is the
registry's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tandem import errors
from tandem.evaluation.bootstrap import bootstrap
from tandem.evaluation.calibration import calibration
from tandem.evaluation.curves import curves
from tandem.evaluation.fairness import fairness
from tandem.evaluation.groups import Slicing, check_lengths, slicings
from tandem.evaluation.metrics import (
    BINARY_METRICS,
    PROBABILITY_METRICS,
    REGRESSION_METRICS,
    BinaryData,
    binary_metrics,
    regression_metrics,
)

HEADLINE = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1")
CONFUSION = ("tn", "fp", "fn", "tp")


def _floats(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise errors.InvalidInput(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise errors.InvalidInput(f"{name} must be numeric, got {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise errors.InvalidInput(
            f"{name} has {int((~np.isfinite(array)).sum()):,} missing or infinite values"
        )
    return array


def binary_labels(values: Any, positive: Any = None) -> np.ndarray:
    """0/1 labels from 0/1, booleans, or any labels with the `positive` one named."""
    array = np.asarray(values)
    if positive is not None:
        matches = (
            array.astype(str) == str(positive) if array.dtype.kind in "OUS" else array == positive
        )
        return np.asarray(matches, dtype=np.int64)
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind in "iuf":
        distinct = set(np.unique(array).tolist())
        if distinct <= {0, 1}:
            return array.astype(np.int64)
        shown = sorted(distinct)[:5]
    else:
        shown = sorted({str(v) for v in np.unique(array.astype(str))})[:5]
    raise errors.InvalidInput(
        f"labels must be 0/1 or name the positive label; got values such as {shown}"
    )


def _row(table: Mapping[str, np.ndarray], g: int, names: Sequence[str]) -> dict[str, float]:
    return {m: float(table[m][g]) for m in names if m in table}


def evaluate_binary(
    y_true: Any,
    y_score: Any,
    *,
    positive: Any = None,
    threshold: float = 0.5,
    slices: Mapping[str, Any] | None = None,
    joint: bool = True,
    protected: Sequence[str] = (),
    metrics: Sequence[str] = BINARY_METRICS,
    headline: Sequence[str] = HEADLINE,
    resamples: int = 200,
    seed: int = 7,
    confidence: float = 0.95,
    baseline_score: Any = None,
    bins: int = 10,
    top_k: float = 0.1,
) -> dict[str, Any]:
    """Evaluate a binary classifier's scores (probabilities of the positive class, or any
    score for the rank metrics) against labels; see the module docstring."""
    y = binary_labels(y_true, positive)
    score = _floats("scores", y_score)
    n = len(y)
    slices = dict(slices or {})
    check_lengths(n, scores=score, baseline_scores=baseline_score, **slices)
    if n == 0:
        raise errors.InvalidInput("no rows to evaluate")
    if not 0 < confidence < 1 or resamples < 0 or not 0 < top_k <= 1 or bins < 1:
        raise errors.InvalidInput(
            "confidence must be in (0, 1), resamples >= 0, top_k in (0, 1], bins >= 1"
        )
    missing = [p for p in protected if p not in slices]
    if missing:
        raise errors.InvalidInput(f"protected attributes must be slice columns: {missing}")
    metrics = list(metrics)
    probabilities = bool(score.min() >= 0 and score.max() <= 1)
    if not probabilities:  # margins or ranks: the probability metrics do not apply
        metrics = [m for m in metrics if m not in PROBABILITY_METRICS]
    data = BinaryData(y, score, threshold)
    table = binary_metrics(data, Slicing.overall(n), metrics, top_k=top_k)
    report: dict[str, Any] = {
        "task": "binary",
        "rows": n,
        "positives": int(y.sum()),
        "threshold": threshold,
        "overall": _row(table, 0, metrics),
        "confusion": _row(table, 0, CONFUSION),
        "slices": {},
        "fairness": {},
    }
    for slicing in slicings(slices, joint=joint):
        grouped = binary_metrics(data, slicing, metrics, top_k=top_k)
        report["slices"][slicing.name] = {
            label: {"count": float(grouped["count"][g]), **_row(grouped, g, metrics)}
            for g, label in enumerate(slicing.labels)
        }
        if set(slicing.name.split("+")) <= set(protected):
            report["fairness"][slicing.name] = fairness(grouped, slicing)
    report["calibration"] = calibration(y, score, bins) if probabilities else None
    report["curves"] = curves(y, score)
    baseline = None
    if baseline_score is not None:
        baseline = BinaryData(y, _floats("baseline scores", baseline_score), threshold)
        base_metrics = [m for m in metrics if probabilities or m not in PROBABILITY_METRICS]
        base = binary_metrics(baseline, Slicing.overall(n), base_metrics, top_k=top_k)
        report["baseline"] = {"overall": _row(base, 0, base_metrics)}
    if resamples:
        chosen = [m for m in headline if m in metrics]
        report["bootstrap"] = bootstrap(
            data,
            chosen,
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            baseline=baseline,
            top_k=top_k,
        )
        if baseline is not None:
            report["baseline"]["difference"] = report["bootstrap"].pop("difference")
    return report


def evaluate_regression(
    y_true: Any, prediction: Any, *, slices: Mapping[str, Any] | None = None, joint: bool = True
) -> dict[str, Any]:
    """MAE, RMSE, MAPE and R² overall and per slice."""
    y, p = _floats("targets", y_true), _floats("predictions", prediction)
    slices = dict(slices or {})
    check_lengths(len(y), predictions=p, **slices)
    if not len(y):
        raise errors.InvalidInput("no rows to evaluate")
    table = regression_metrics(y, p, Slicing.overall(len(y)))
    report: dict[str, Any] = {
        "task": "regression",
        "rows": len(y),
        "overall": _row(table, 0, REGRESSION_METRICS),
        "slices": {},
    }
    for slicing in slicings(slices, joint=joint):
        grouped = regression_metrics(y, p, slicing)
        report["slices"][slicing.name] = {
            label: {"count": float(grouped["count"][g]), **_row(grouped, g, REGRESSION_METRICS)}
            for g, label in enumerate(slicing.labels)
        }
    return report


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined figures are stored as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
