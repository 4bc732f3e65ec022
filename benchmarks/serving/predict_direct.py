"""The model's own predict: the time one call takes in process, no HTTP (the floor every server
adds its overhead to). Runs in the MLflow venv. Prints BENCH lines: median and p99 of
`--calls` single-row calls after a warm-up, for scikit-learn's predict on a one-row DataFrame
(what `mlflow models serve` calls), on a NumPy row, and MLflow's pyfunc predict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import sklearn
import skops.io

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emit import emit


def timings(call, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(200):
        call()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="make_model.py's --out")
    ap.add_argument("--calls", type=int, default=5000)
    a = ap.parse_args()
    body = json.loads((a.folder / "body.json").read_text())["dataframe_split"]
    path = a.folder / "mlflow-model" / "model.skops"
    model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    pyfunc = mlflow.pyfunc.load_model(str(a.folder / "mlflow-model"))
    frame = pd.DataFrame(body["data"], columns=body["columns"])
    row = np.asarray(body["data"], dtype=float)
    warnings.simplefilter("ignore")  # numpy input has no feature names: a warning per call
    cases = {
        "sklearn predict, 1-row DataFrame": lambda: model.predict(frame),
        "sklearn predict, 1-row ndarray": lambda: model.predict(row),
        "mlflow pyfunc predict, 1-row DataFrame": lambda: pyfunc.predict(frame),
    }
    for name, call in cases.items():
        times = sorted(timings(call, a.calls))
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        emit(
            "S",
            "model's own predict",
            "model",
            sklearn.__version__,
            p50,
            "ms",
            "lower",
            variant=name,
            p50_ms=p50,
            p99_ms=p99,
            calls=a.calls,
        )


if __name__ == "__main__":
    main()
