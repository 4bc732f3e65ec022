"""Evaluation: metrics, slices, fairness, calibration and bootstrap intervals for models.

from tandem.evaluation import evaluate_binary
report = evaluate_binary(y, score, slices={"sex": sex}, protected=["sex"])
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_binary", "evaluate_regression"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the server imports this package's tables, and NumPy with the
    # report would add ~0.1 s to every embedded workspace's start.
    if name in __all__:
        from tandem.evaluation import report

        return getattr(report, name)
    raise AttributeError(name)
