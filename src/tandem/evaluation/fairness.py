"""Fairness across the groups of a protected attribute, from per-group confusion counts.

Definitions follow Fairlearn (`demographic_parity_difference`, `equalized_odds_difference`
and their ratios, method "between_groups", aggregation "worst_case"), so the figures agree with
it: differences are the largest minus the smallest group rate; ratios the smallest over the
largest (NaN when the largest is 0); equalised odds takes the worse of the true- and
false-positive rates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tandem.evaluation.groups import Slicing


def _difference(rates: np.ndarray) -> float:
    return float(np.ptp(rates)) if len(rates) else math.nan


def _ratio(rates: np.ndarray) -> float:
    if not len(rates) or rates.max() <= 0:
        return math.nan
    return float(rates.min() / rates.max())


def fairness(table: dict[str, np.ndarray], slicing: Slicing) -> dict[str, Any]:
    """Parity figures and the per-group selection and error rates behind them."""
    tpr, fpr, selection = table["tpr"], table["fpr"], table["selection_rate"]
    return {
        "demographic_parity_difference": _difference(selection),
        "demographic_parity_ratio": _ratio(selection),
        "equalized_odds_difference": max(_difference(tpr), _difference(fpr)),
        "equalized_odds_ratio": min(_ratio(tpr), _ratio(fpr)),
        "groups": {
            label: {
                "count": float(table["count"][g]),
                "selection_rate": float(selection[g]),
                "tpr": float(tpr[g]),
                "fpr": float(fpr[g]),
                "fnr": float(table["fnr"][g]),
                "tnr": float(table["tnr"][g]),
                "error_rate": 1.0 - float(table["accuracy"][g]),
            }
            for g, label in enumerate(slicing.labels)
        },
    }
