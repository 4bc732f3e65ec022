"""Shared by the monitoring benchmarks (issue 23), stdlib only so every venv can import it.

Data lives in $MONITORING_DATA (default /tmp/bench-mon), made by make_data.py:

    drift/reference.parquet        the shared workload D reference (1M x 20, seed 1)
    drift/window-HH.parquet        24 hourly windows of 100k x 20, shifted like workload D's current
                                   table in the same 5 columns (seed 1000 + HH)
    drift/truth.json               column kinds and the shifted columns
    outcomes/predictions.parquet   1M logged predictions over 24 h (2 versions, calibrated scores)
    outcomes/labels.parquet        1M labels for them (request_id, label, at)
    cbpe/reference.parquet         50k labelled rows scored by a fitted logistic regression
    cbpe/analysis.parquet          24 hourly chunks of 10k rows with a growing covariate shift
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from functools import partial
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # benchmarks/: emit.py
    sys.path.append(str(Path(__file__).resolve().parent.parent))
from emit import emit as emit_record

DATA = Path(os.environ.get("MONITORING_DATA", "/tmp/bench-mon"))
SHARED = Path(os.environ.get("BENCH_SHARED", "/work/shared/bench"))
WINDOWS = 24
WINDOW_ROWS = 100_000
START_AT_MS = 1_796_000_400_000 // 3_600_000 * 3_600_000  # an hour boundary (2026-11-29 15:00 UTC)
HOUR_MS = 3_600_000

emit = partial(emit_record, better="lower")
"""One BENCH record (the shared bench's line protocol, `benchmarks/emit.py`): lower is better
unless the call says `better="higher"`."""


def truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "drift" / "truth.json").read_text())
    return data


def window_path(hour: int) -> Path:
    return DATA / "drift" / f"window-{hour:02d}.parquet"


def verdict(detected: list[str], shifted: list[str]) -> dict[str, Any]:
    found = sorted(set(detected) & set(shifted))
    false = sorted(set(detected) - set(shifted))
    return {
        "found": len(found),
        "missed": sorted(set(shifted) - set(detected)),
        "false_alarms": false,
    }


def summary(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "median_s": round(statistics.median(ordered), 4),
        "p90_s": round(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))], 4),
        "max_s": round(ordered[-1], 4),
        "min_s": round(ordered[0], 4),
        "total_s": round(sum(ordered), 3),
        "n": len(ordered),
    }


def realised(score: Any, label: Any) -> dict[str, float]:
    """Realised ROC AUC (Mann-Whitney, ties averaged) and accuracy at 0.5, NumPy only: the one
    yardstick both CBPE adapters are scored against."""
    import numpy as np

    score, label = np.asarray(score, dtype=np.float64), np.asarray(label).astype(bool)
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.flatnonzero(starts)
    ends = np.append(first[1:], len(score))
    ranks = np.empty(len(score))
    ranks[order] = ((first + ends + 1) / 2.0)[np.cumsum(starts) - 1]
    pos = label.sum()
    neg = len(label) - pos
    auc = (ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg)
    return {"roc_auc": float(auc), "accuracy": float(((score >= 0.5) == label).mean())}


def errors(estimates: list[dict[str, float]], truths: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and max absolute error per metric, and how many chunks are within 0.02."""
    out: dict[str, Any] = {}
    for metric in ("roc_auc", "accuracy"):
        diffs = [abs(e[metric] - t[metric]) for e, t in zip(estimates, truths, strict=True)]
        out[f"{metric}_mae"] = round(sum(diffs) / len(diffs), 4)
        out[f"{metric}_max_error"] = round(max(diffs), 4)
        out[f"{metric}_within_0.02"] = f"{sum(d <= 0.02 for d in diffs)}/{len(diffs)}"
    return out
