"""`tandem models ...` and `tandem evaluate` on an embedded workspace with a real scikit-learn
pipeline trained on the telco data: list, versions, show, alias, stage, load, register,
evaluate and evaluations, and bad input (one line, non-zero exit, nothing changed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tandem.sdk.client import Client

REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
FEATURES = ["tenure", "MonthlyCharges", "Contract", "gender"]


@pytest.fixture
def logged(tmp_path: Path, sdk: Client) -> str:
    """churn/churn-lr@1 logged by a run, dataset churn/holdout@v1; returns the run id."""
    source = tmp_path / "data" / "telco.csv"
    source.parent.mkdir()
    shutil.copyfile(REAL_DATA / "telco-churn.csv", source)
    frame = pd.read_csv(source)
    encode = make_column_transformer(
        (StandardScaler(), FEATURES[:2]), (OneHotEncoder(handle_unknown="ignore"), FEATURES[2:])
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=300)).fit(
        frame[FEATURES], frame["Churn"]
    )
    sdk.projects.create("churn")
    sdk.data.add("holdout", source, project="churn")
    with sdk.start_run(project="churn") as run:
        run.log_model(model, "churn-lr", example=frame[FEATURES].head(3))
    return run.id


def test_models_commands(tandem: Any, logged: str, tmp_path: Path) -> None:
    listed = tandem("models", "list", "-p", "churn", "--json").json()
    assert [(m["name"], m["latest_version"]) for m in listed["items"]] == [("churn-lr", 1)]
    registered = tandem(
        "models", "register", "churn-lr", logged, "models/churn-lr", "-p", "churn", "--json"
    ).json()
    assert registered["version"] == 2 and registered["flavor"] == "sklearn"

    shown = tandem("models", "show", "churn/churn-lr@1")
    assert shown.code == 0 and "skops" in shown.stdout and "tenure: int64" in shown.stdout
    alias = tandem("models", "alias", "churn-lr", "champion", "2", "-p", "churn")
    assert alias.code == 0 and "champion -> churn-lr@2" in alias.stdout
    staged = tandem("models", "stage", "churn-lr@champion", "ready-for-review", "-p", "churn")
    assert staged.code == 4 and "goes through a gate" in staged.stderr  # tests/governance
    assert "tandem gate open churn-lr@2 --to ready-for-review" in staged.stderr
    drafted = tandem("models", "stage", "churn-lr@champion", "draft", "-p", "churn")
    assert drafted.code == 0 and "churn/churn-lr@2 is now draft" in drafted.stdout
    versions = tandem(
        "models", "versions", "churn-lr", "-p", "churn", "--stage", "draft", "--json"
    ).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]

    out = tmp_path / "out"
    loaded = tandem("models", "load", "churn/churn-lr@champion", str(out))
    assert loaded.code == 0 and sorted(p.name for p in out.iterdir()) == [
        "model.skops",
        "tandem-model.json",
    ]

    evaluated = tandem(
        "evaluate", "churn-lr@2", "--data", "holdout@v1", "--target", "Churn", "--positive", "Yes",
        "--slices", "gender,Contract", "--protected", "gender", "--baseline", "churn-lr@1",
        "--resamples", "20", "--top-k", "0.2", "-p", "churn",
    )  # fmt: skip
    assert evaluated.code == 0, evaluated.stderr
    assert "roc_auc" in evaluated.stdout and "fairness across gender" in evaluated.stdout
    assert "latency: p50" in evaluated.stdout
    found = tandem("models", "evaluations", "churn/churn-lr", "--json").json()
    assert [(e["model_version"], e["dataset"], e["baseline_version"]) for e in found] == [
        (2, "holdout", 1)
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["models", "show", "churn-lr@0"], 2, "versions are 1, 2"),
        (["models", "show", "nope@1"], 3, "model 'nope' does not exist"),
        (["models", "stage", "churn-lr@1", "launched"], 2, "unknown stage 'launched'"),
        (["models", "alias", "churn-lr", "champion"], 2, "give a VERSION"),
        (["models", "alias", "churn-lr", "Champ", "1"], 2, "invalid alias"),
        (["evaluate", "churn-lr@1", "--data", "holdout@v1", "--target", "Nope"], 2, "no column"),
        (
            [
                "evaluate",
                "churn-lr@1",
                "-d",
                "holdout@v1",
                "-t",
                "Churn",
                "--positive",
                "Yes",
                "--top-k",
                "0",
            ],
            2,
            "top_k in (0, 1]",
        ),
        (
            ["evaluate", "churn-lr@1", "--data", "holdout@v9", "--target", "Churn"],
            3,
            "has no version v9",
        ),
    ],
)
def test_bad_input_is_one_line(
    tandem: Any, logged: str, args: list[str], code: int, message: str
) -> None:
    result = tandem(*args, "-p", "churn")
    assert result.code == code, result.stderr
    assert len(result.stderr_lines) == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert tandem("models", "evaluations", "churn-lr", "-p", "churn", "--json").json() == []
