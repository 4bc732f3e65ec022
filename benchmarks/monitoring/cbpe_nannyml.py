"""(3) NannyML's CBPE on the same chunks as tandem's: ROC AUC and accuracy of a calibrated
logistic regression estimated from its scores, over 24 hourly chunks of 10k rows (make_data.py's
cbpe part), compared with the realised figures (the labels, held back from the estimator). Run in
NannyML's venv:

    /tmp/benchenv-nannyml/bin/python benchmarks/monitoring/cbpe_nannyml.py

Timed: `CBPE.fit(reference)` (50k labelled rows; NannyML fits a calibrator there) and
`CBPE.estimate(analysis)` (240k rows, chunk_size 10,000, so its chunks are the 24 hours), which
also computes its sampling-error bands. Not timed: reading the parquet files.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no usage upload (no internet here)
import nannyml as nml
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, emit, errors, realised

CHUNK = 10_000


def main() -> None:
    reference = pd.read_parquet(DATA / "cbpe" / "reference.parquet")
    analysis = pd.read_parquet(DATA / "cbpe" / "analysis.parquet")
    for frame in (reference, analysis):
        frame["timestamp"] = pd.to_datetime(frame["at"], unit="ms")
    unlabelled = analysis.drop(columns=["label"])
    cpu_began = time.process_time()
    began = time.perf_counter()
    estimator = nml.CBPE(
        y_pred_proba="score",
        y_pred="prediction",
        y_true="label",
        timestamp_column_name="timestamp",
        metrics=["roc_auc", "accuracy"],
        chunk_size=CHUNK,
        problem_type="classification_binary",
    )
    estimator.fit(reference)
    fitted = time.perf_counter()
    results = estimator.estimate(unlabelled)
    done = time.perf_counter()
    cpu_s = round(time.process_time() - cpu_began, 4)
    table = results.filter(period="analysis").to_df()
    estimates = [
        {"roc_auc": float(a), "accuracy": float(b)}
        for a, b in zip(table[("roc_auc", "value")], table[("accuracy", "value")], strict=True)
    ]
    truths = [realised(g["score"], g["label"]) for _, g in analysis.groupby("chunk", sort=True)]
    if len(estimates) != len(truths):
        raise SystemExit(f"NannyML made {len(estimates)} chunks, expected {len(truths)}")
    for i, (e, t) in enumerate(zip(estimates, truths, strict=True)):
        print(
            f"nannyml chunk {i:02d}: auc est {e['roc_auc']:.4f} real {t['roc_auc']:.4f}; acc est "
            f"{e['accuracy']:.4f} real {t['accuracy']:.4f}",
            file=sys.stderr,
        )
    emit(
        "M3",
        "CBPE roc_auc + accuracy, 24 chunks of 10k",
        "nannyml CBPE",
        nml.__version__,
        done - began,
        "s",
        seconds=done - began,
        fit_s=round(fitted - began, 4),
        cpu_s=cpu_s,
        estimate_s=round(done - fitted, 4),
        chunks=len(estimates),
        **errors(estimates, truths),
        notes=f"pandas {pd.__version__}; fit on 50k labelled reference rows + estimate with "
        "sampling-error bands",
    )


if __name__ == "__main__":
    main()
