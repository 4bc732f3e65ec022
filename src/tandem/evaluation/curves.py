"""ROC and precision-recall curves for charts, thinned to a few hundred points.

Points sit at the distinct score thresholds, from the highest score down, as scikit-learn's
`roc_curve` and `precision_recall_curve` place them; a curve with more points than `points` keeps
evenly spaced ones (and both ends), which is plenty to draw and keeps reports small.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _thin(n: int, points: int) -> np.ndarray:
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def curves(y: np.ndarray, score: np.ndarray, points: int = 200) -> dict[str, Any]:
    """`roc`: false and true positive rates; `pr`: recall and precision; `None` when the
    labels hold only one class."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return {"roc": None, "pr": None}
    order = np.argsort(-score, kind="stable")
    s, labels = score[order], y[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # the end of each threshold's run
    tps = np.cumsum(labels)[last].astype(np.float64)
    fps = (last + 1) - tps
    keep = _thin(len(last), points)
    fpr = np.r_[0.0, fps[keep] / negatives]
    tpr = np.r_[0.0, tps[keep] / positives]
    precision = tps[keep] / (tps[keep] + fps[keep])
    recall = tps[keep] / positives
    return {
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "pr": {"recall": recall.tolist(), "precision": precision.tolist()},
    }
