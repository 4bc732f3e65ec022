"""Calibration of predicted probabilities: the reliability curve and expected calibration error.

Bins are `bins` equal-width intervals of [0, 1], assigned as scikit-learn's
`calibration_curve(strategy="uniform")` does, so the curve's points equal its output.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def calibration(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Per non-empty bin: mean predicted probability, observed positive rate and count; and the
    expected (count-weighted mean absolute gap) and maximum calibration errors."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], probability)
    total = np.bincount(ids, minlength=bins)
    predicted = np.bincount(ids, weights=probability, minlength=bins)
    observed = np.bincount(ids, weights=y, minlength=bins)
    used = total > 0
    mean_predicted = predicted[used] / total[used]
    positive_rate = observed[used] / total[used]
    gaps = np.abs(positive_rate - mean_predicted)
    n = max(int(total.sum()), 1)
    return {
        "bins": bins,
        "edges": edges.tolist(),
        "mean_predicted": mean_predicted.tolist(),
        "positive_rate": positive_rate.tolist(),
        "count": total[used].astype(int).tolist(),
        "ece": float((total[used] / n * gaps).sum()),
        "mce": float(gaps.max()) if len(gaps) else 0.0,
    }
