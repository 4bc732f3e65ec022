"""A registered model with evaluations for the model page tests (a module of its own, imported
by name like web_world): `churn-lr` in project vision, versions 1 (tenure only) and 2 (tenure
and monthly charges), logistic regressions trained on the real Telco data, version 2 aliased
champion and evaluated on telco@v1 against version 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from data_world import TELCO_CSV, Tables, add_telco
from sklearn.linear_model import LogisticRegression

from tandem.evaluation import evaluate_binary
from tandem.evaluation.models import EvaluationCreate
from tandem.registry.flavors import save_model
from tandem.registry.models import CardTexts, VersionCreate
from tandem.server.container import Services
from tandem.tracking.models import RunCreate

FEATURES = [["tenure"], ["tenure", "MonthlyCharges"]]


def add_models(services: Services, tables: Tables, tmp_path: Path, description: str = "") -> str:
    """Returns the evaluation id of version 2."""
    owner = services.owner
    add_telco(services, tables, "vision", versions=1)
    frame = pl.read_csv(TELCO_CSV, infer_schema_length=10_000)
    y = (frame["Churn"] == "Yes").cast(pl.Int64).to_numpy()
    gender = frame["gender"].to_numpy()
    scores = []
    run = services.tracking.create_run(owner, "vision", RunCreate(name="churn-fit"))
    services.data.link_run(owner, run.id, "telco@v1", "train")
    for number, columns in enumerate(FEATURES, 1):
        x = frame.select(columns).to_numpy().astype(float)
        model = LogisticRegression(max_iter=500).fit(x, y)
        scores.append(model.predict_proba(x)[:, 1])
        folder = tmp_path / f"model-{number}"
        saved = save_model(model, folder)
        meta = folder / "tandem-model.json"
        meta.write_text(json.dumps({"flavor": saved.flavor, "format": saved.format,
                                    "trusted": saved.trusted, "files": saved.files}))  # fmt: skip
        path = f"models/churn-lr-{number}"
        for file in [*saved.files, "tandem-model.json"]:
            services.tracking.upload_artifact(owner, run.id, f"{path}/{file}", folder / file)
        services.registry.register(
            owner, "vision", "churn-lr", VersionCreate(run_id=run.id, artifact_path=path)
        )
    services.registry.set_alias(owner, "vision", "churn-lr", "champion", 2)
    if description:
        from tandem.registry.models import ModelUpdate

        services.registry.update_model(
            owner, "vision", "churn-lr", ModelUpdate(description=description)
        )
        services.cards.set_texts(owner, "vision", "churn-lr", CardTexts(intended_use=description))
    report = evaluate_binary(y, scores[1], slices={"gender": gender}, protected=["gender"],
                             baseline_score=scores[0], resamples=30)  # fmt: skip
    body = EvaluationCreate(model="churn-lr@2", dataset="telco@v1", baseline="churn-lr@1",
                            target="Churn", report=_plain(report))  # fmt: skip
    return services.evaluations.record(owner, "vision", body).id


def _plain(value: object) -> object:
    """NaN to None, NumPy numbers to Python ones (as the SDK sends them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
