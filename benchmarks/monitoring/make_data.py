"""The monitoring benchmarks' data (seeded; see common.py for the layout). Run with tandem's
interpreter (NumPy, pyarrow, scikit-learn); each part is made once unless --force:

    .venv/bin/python benchmarks/monitoring/make_data.py [--part drift|outcomes|cbpe|all]

drift     the shared workload D generator (`../shared/bench/d_drift/make_data.py`, its `table`):
          its 1M reference, and 24 windows of 100k rows drawn like its current table (the same
          5 shifted columns: num_00 mean +0.5 sd, num_01 sd x1.5, num_02 log-normal mu +0.3,
          num_03 range +20 %, cat_00 re-weighted), one seed per window.
outcomes  1M predictions over 24 hours (one every 86.4 ms; versions 1 and 2 interleaved in
          blocks of 10k), score = the positive-class probability of a calibrated model, output
          its class; 1M labels drawn from the score (label ~ Bernoulli(score)), each arriving
          1-72 h after its prediction, in shuffled order.
cbpe      a logistic regression fitted on 50k labelled rows of a logistic ground truth (so the
          model is calibrated), then 24 hourly chunks of 10k rows whose first feature drifts
          (mean 0 -> 1.5 over the day), scored by that model; labels from the ground truth.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, HOUR_MS, SHARED, START_AT_MS, WINDOW_ROWS, WINDOWS

PREDICTIONS = 1_000_000
CBPE_REFERENCE = 50_000
CBPE_CHUNK = 10_000
COEF = np.array([1.2, -0.8, 0.5, 0.3])
INTERCEPT = -0.4


def shared_generator() -> Any:  # the shared workload D generator, loaded from its file
    spec = importlib.util.spec_from_file_location("d_make", SHARED / "d_drift" / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_drift(force: bool) -> None:
    out = DATA / "drift"
    if (out / "truth.json").exists() and not force:
        return
    out.mkdir(parents=True, exist_ok=True)
    d = shared_generator()
    pq.write_table(d.table(d.N_ROWS, 1, False), out / "reference.parquet")
    for hour in range(WINDOWS):
        pq.write_table(d.table(WINDOW_ROWS, 1000 + hour, True), out / f"window-{hour:02d}.parquet")
    truth = {
        "numeric": d.NUMERIC,
        "categorical": d.CATEGORICAL,
        "drifted": d.DRIFTED,
        "reference_rows": d.N_ROWS,
        "window_rows": WINDOW_ROWS,
        "windows": WINDOWS,
    }
    (out / "truth.json").write_text(json.dumps(truth))
    print(f"drift: reference {d.N_ROWS:,} rows, {WINDOWS} windows of {WINDOW_ROWS:,} -> {out}")


def request_id(number: int) -> str:
    return f"req-{number:09d}"


def make_outcomes(force: bool) -> None:
    out = DATA / "outcomes"
    if (out / "labels.parquet").exists() and not force:
        return
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(23)
    n = PREDICTIONS
    numbers = np.arange(n)
    x = rng.normal(0, 1, (n, 2))
    score = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 1.0 * x[:, 1] - 0.3)))
    at = START_AT_MS + (numbers * (24 * HOUR_MS) // n)
    version = 1 + (numbers // 10_000) % 2
    ids = pa.array([request_id(i) for i in range(n)], pa.string())
    predictions = pa.table(
        {
            "request_id": ids,
            "at": pa.array(at, pa.int64()),
            "version": pa.array(version, pa.int64()),
            "score": pa.array(score),
            "prediction": pa.array((score >= 0.5).astype(np.int64)),
            "x0": pa.array(x[:, 0]),
            "x1": pa.array(x[:, 1]),
        }
    )
    pq.write_table(predictions, out / "predictions.parquet")
    label = (rng.random(n) < score).astype(np.int64)
    delay = rng.integers(HOUR_MS, 72 * HOUR_MS, n)
    order = rng.permutation(n)
    labels = pa.table(
        {
            "request_id": ids.take(pa.array(order)),
            "label": pa.array(label[order]),
            "at": pa.array((at + delay)[order], pa.int64()),
        }
    )
    pq.write_table(labels, out / "labels.parquet")
    print(f"outcomes: {n:,} predictions and {n:,} labels -> {out}")


def make_cbpe(force: bool) -> None:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    out = DATA / "cbpe"
    if (out / "analysis.parquet").exists() and not force:
        return
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6)

    def rows(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(0, 1, (n, 4))
        x[:, 0] += shift
        p = 1 / (1 + np.exp(-(x @ COEF + INTERCEPT)))
        return x, (rng.random(n) < p).astype(np.int64)

    x_ref, y_ref = rows(CBPE_REFERENCE, 0.0)
    model = LogisticRegression().fit(x_ref, y_ref)

    def frame(x: np.ndarray, y: np.ndarray, chunk: np.ndarray, at: np.ndarray) -> pa.Table:
        score = model.predict_proba(x)[:, 1]
        columns = {f"x{i}": pa.array(x[:, i]) for i in range(x.shape[1])}
        return pa.table(
            {
                "chunk": pa.array(chunk, pa.int64()),
                "at": pa.array(at, pa.int64()),
                **columns,
                "score": pa.array(score),
                "prediction": pa.array((score >= 0.5).astype(np.int64)),
                "label": pa.array(y),
            }
        )

    ref_at = (
        START_AT_MS - 24 * HOUR_MS + np.arange(CBPE_REFERENCE) * (24 * HOUR_MS) // CBPE_REFERENCE
    )
    pq.write_table(
        frame(x_ref, y_ref, np.full(CBPE_REFERENCE, -1), ref_at), out / "reference.parquet"
    )
    parts = []
    for hour in range(WINDOWS):
        x, y = rows(CBPE_CHUNK, 1.5 * hour / (WINDOWS - 1))
        at = START_AT_MS + hour * HOUR_MS + np.arange(CBPE_CHUNK) * HOUR_MS // CBPE_CHUNK
        parts.append(frame(x, y, np.full(CBPE_CHUNK, hour), at))
    pq.write_table(pa.concat_tables(parts), out / "analysis.parquet")
    print(f"cbpe: reference {CBPE_REFERENCE:,}, {WINDOWS} chunks of {CBPE_CHUNK:,} -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["drift", "outcomes", "cbpe", "all"], default="all")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    for part, make in (("drift", make_drift), ("outcomes", make_outcomes), ("cbpe", make_cbpe)):
        if a.part in (part, "all"):
            make(a.force)


if __name__ == "__main__":
    main()
