"""Evaluation: metrics, slices, fairness, calibration and bootstrap intervals for models.

from tandem.evaluation import evaluate_binary
report = evaluate_binary(y, score, slices={"sex": sex}, protected=["sex"])
"""

from tandem.evaluation.report import evaluate_binary, evaluate_regression

__all__ = ["evaluate_binary", "evaluate_regression"]
