"""The served model: a one-feature scikit-learn LogisticRegression, saved by MLflow 3.x as skops.

Runs in the MLflow venv (/tmp/benchenv-mlflow). Writes into `--out`:
  mlflow-model/          `mlflow.sklearn.save_model(..., serialization_format="skops")`
  body.json              the one-row request every server gets (MLflow's `dataframe_split`)
  expected.json          the model's answer to that row, so every server's answer is checked
Fitting is seeded, so the file is the same model on every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

ROW = 0.3  # the one feature of the benchmark's request; predicts class 1 (see expected.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(22)
    x = rng.normal(size=(1000, 1))
    y = (x[:, 0] + rng.normal(scale=0.5, size=1000) > 0).astype(int)
    frame = pd.DataFrame({"x": x[:, 0]})
    model = LogisticRegression().fit(frame, y)

    target = a.out / "mlflow-model"
    shutil.rmtree(target, ignore_errors=True)
    a.out.mkdir(parents=True, exist_ok=True)
    example = pd.DataFrame({"x": [ROW]})
    mlflow.sklearn.save_model(
        model,
        str(target),
        serialization_format="skops",
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
    )
    body = {"dataframe_split": {"columns": ["x"], "data": [[ROW]]}}
    (a.out / "body.json").write_text(json.dumps(body, separators=(",", ":")))
    expected = {
        "prediction": int(model.predict(example)[0]),
        "probability": float(model.predict_proba(example)[0, 1]),
        "mlflow": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "file": sorted(p.name for p in target.iterdir()),
    }
    (a.out / "expected.json").write_text(json.dumps(expected, indent=1))
    print(json.dumps(expected))


if __name__ == "__main__":
    main()
