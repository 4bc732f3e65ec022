"""(3) tandem's CBPE (`tandem.outcomes.cbpe`) on the same 24 hourly chunks of 10k rows as
NannyML (make_data.py's cbpe part), against the realised ROC AUC and accuracy (labels held back):

    PYTHONPATH=src .venv/bin/python benchmarks/monitoring/cbpe_tandem.py

Timed: `cbpe.estimate(scores)` per chunk (estimate and its band: 200 Bernoulli draws of the labels)
for all 24 chunks; also the point estimates alone (`expected_roc_auc`, `expected_accuracy`).
tandem's CBPE assumes a calibrated classifier and fits nothing; NannyML fits a calibrator on a
labelled reference first (its time includes that fit). Not timed: reading the parquet file.
"""

from __future__ import annotations

import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, emit, errors, realised


def main() -> None:
    try:
        from tandem.outcomes import cbpe
    except ImportError as exc:
        print(f"tandem CBPE unavailable (tandem/outcomes/cbpe.py): {exc}", file=sys.stderr)
        return
    analysis = pl.read_parquet(DATA / "cbpe" / "analysis.parquet").sort("chunk", "at")
    chunks = [
        (g["score"].to_numpy(), g["label"].to_numpy())
        for _, g in analysis.group_by("chunk", maintain_order=True)
    ]
    cpu_began = time.process_time()
    began = time.perf_counter()
    results = [cbpe.estimate(score) for score, _ in chunks]
    done = time.perf_counter()
    cpu_s = round(time.process_time() - cpu_began, 4)
    point = time.perf_counter()
    for score, _ in chunks:
        cbpe.expected_roc_auc(score), cbpe.expected_accuracy(score)
    point = time.perf_counter() - point
    estimates = [{m: float(r[m].value) for m in ("roc_auc", "accuracy")} for r in results]  # type: ignore[arg-type]
    truths = [realised(score, label) for score, label in chunks]
    inside = {
        m: sum(
            (r[m].low or 0.0) <= t[m] <= (r[m].high or 1.0)
            for r, t in zip(results, truths, strict=True)
        )
        for m in ("roc_auc", "accuracy")
    }
    for i, (e, t) in enumerate(zip(estimates, truths, strict=True)):
        print(
            f"tandem chunk {i:02d}: auc est {e['roc_auc']:.4f} real {t['roc_auc']:.4f}; acc est "
            f"{e['accuracy']:.4f} real {t['accuracy']:.4f}",
            file=sys.stderr,
        )
    emit(
        "M3",
        "CBPE roc_auc + accuracy, 24 chunks of 10k",
        "tandem",
        version("tandem"),
        done - began,
        "s",
        seconds=done - began,
        point_estimates_s=round(point, 4),
        cpu_s=cpu_s,
        chunks=len(chunks),
        **errors(estimates, truths),
        realised_inside_band=f"auc {inside['roc_auc']}/{len(chunks)}, accuracy "
        f"{inside['accuracy']}/{len(chunks)}",
        notes=f"numpy {np.__version__}; estimate + band (200 draws) per chunk; no fit",
    )


if __name__ == "__main__":
    main()
