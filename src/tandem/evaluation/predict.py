"""Scores from a loaded model, by flavor, and how fast it predicts (client side: the server
never loads a model).

For a binary task the score is the probability of the positive class (`predict_proba`, the
column of the positive label in `classes_`), else the decision function; boosters and Python
functions give their own output. Latency is measured on this machine: single-row predictions
(p50 and p99 over up to 200 rows) and throughput over the whole table.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tandem.errors import InvalidInput, UserCodeError


def feature_frame(frame: Any, target: str, signature: dict[str, Any] | None,
                  drop: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """The columns the model takes: its signature's inputs when they name columns of the data,
    else every column but the target (and `drop`). `frame` is a pandas DataFrame."""
    names = [c["name"] for c in (signature or {}).get("inputs") or []]
    if names and all(n in frame.columns for n in names):
        return frame[names]
    missing = [n for n in names if n not in frame.columns]
    if names and not all(n.isdigit() for n in names):
        raise InvalidInput(f"the data lacks columns the model takes: {missing[:10]}")
    return frame.drop(columns=[target, *drop])


def predict_scores(
    model: Any, flavor: str, features: Any, *, task: str, positive: Any
) -> np.ndarray:
    """One score per row: the positive class's probability (binary) or the prediction. A
    model that raises on these rows (wrong dtypes, unexpected columns, a bug in it) is a
    UserCodeError with the model's exception as its cause, not a crash of tandem."""
    try:
        scores = _scores(model, flavor, features, task=task, positive=positive)
    except InvalidInput:
        raise
    except Exception as exc:
        raise UserCodeError(
            f"the model could not predict on this data ({type(exc).__name__}: {str(exc)[:300]})"
        ) from exc
    if scores.shape != (len(features),) or not np.isfinite(scores).all():
        raise InvalidInput(
            f"the model gave scores of shape {scores.shape} for {len(features):,} rows: "
            "expected one finite score per row"
        )
    return scores


def _scores(model: Any, flavor: str, features: Any, *, task: str, positive: Any) -> np.ndarray:
    if flavor == "sklearn":
        if task == "binary" and hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(features))
            classes = list(getattr(model, "classes_", [0, 1]))
            label = positive if positive is not None else (1 if 1 in classes else classes[-1])
            if label not in classes:
                raise InvalidInput(f"the model's classes are {classes}; none is {label!r}")
            return proba[:, classes.index(label)].astype(np.float64)
        if task == "binary" and hasattr(model, "decision_function"):
            return np.asarray(model.decision_function(features), dtype=np.float64)
        return np.asarray(model.predict(features), dtype=np.float64)
    if flavor == "xgboost":
        import xgboost

        return np.asarray(model.predict(xgboost.DMatrix(features)), dtype=np.float64)
    if flavor == "lightgbm":
        return np.asarray(model.predict(features), dtype=np.float64)
    if flavor == "onnx":
        raise InvalidInput(
            "evaluating an ONNX model needs onnxruntime, which tandem does not run yet"
        )
    out = np.asarray(model(features), dtype=np.float64)
    return out[:, -1] if out.ndim == 2 else out


def measure_latency(model: Any, flavor: str, features: Any, *, task: str, positive: Any,
                    samples: int = 200) -> dict[str, float]:  # fmt: skip
    """Single-row latency (p50, p99, ms) and whole-table throughput (rows/s)."""
    n = len(features)
    picks = np.linspace(0, n - 1, num=min(samples, n)).astype(int)
    single = []
    for i in picks:
        row = features.iloc[[int(i)]]
        t0 = time.perf_counter()
        predict_scores(model, flavor, row, task=task, positive=positive)
        single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    predict_scores(model, flavor, features, task=task, positive=positive)
    whole = time.perf_counter() - t0
    p50, p99 = np.percentile(np.array(single) * 1000, [50, 99])
    return {
        "p50_ms": float(p50), "p99_ms": float(p99), "rows_per_second": n / whole if whole else 0.0,
        "rows": n, "single_row_samples": len(picks),
    }  # fmt: skip
