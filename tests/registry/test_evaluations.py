"""Evaluating registered models on dataset versions through the SDK (embedded and against a
live server) and the CLI, on the real telco churn data: the recorded figures equal a direct
computation, link to both versions, and bad input records nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tandem.core.auth import Principal, Role
from tandem.errors import InvalidInput, NotFound, PermissionDenied
from tandem.evaluation.models import EvaluationCreate
from tandem.sdk.client import Client
from tandem.server.container import Services

TELCO = Path("/work/shared/data/telco-churn.csv")
NUMERIC = ["tenure", "MonthlyCharges"]
CATEGORICAL = ["Contract", "InternetService", "PaymentMethod", "gender", "SeniorCitizen"]


def _models(frame: pd.DataFrame) -> tuple[object, object]:
    columns = NUMERIC + CATEGORICAL
    encode = make_column_transformer(
        (StandardScaler(), NUMERIC), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
    )
    full = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(
        frame[columns], frame["Churn"]
    )
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        frame[["tenure"]], frame["Churn"]
    )
    return full, weak


@pytest.fixture
def churn(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Client, pd.DataFrame, object]:
    """Project churn: dataset holdout@v1 (telco), model churn-lr@1 (tenure only), @2 (full)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "telco.csv").write_bytes(TELCO.read_bytes())
    frame = pd.read_csv(TELCO)
    full, weak = _models(frame)
    client.projects.create("churn")
    client.data.add("holdout", data / "telco.csv", project="churn")
    with client.start_run(project="churn") as run:
        run.log_model(weak, "churn-lr", example=frame[["tenure"]].head(3))
        run.log_model(full, "churn-lr", example=frame[NUMERIC + CATEGORICAL].head(3))
    return client, frame, full


def test_evaluate_records_figures_equal_a_direct_computation(
    churn: tuple[Client, pd.DataFrame, object],
) -> None:
    client, frame, full = churn
    recorded = client.evaluations.evaluate(
        "churn-lr@2", "holdout@v1", "Churn", project="churn", positive="Yes",
        slices=["gender", "Contract"], protected=["gender"], baseline="churn-lr@1", resamples=30,
    )  # fmt: skip
    assert (recorded.model, recorded.model_version, recorded.dataset, recorded.dataset_version) == (
        "churn-lr",
        2,
        "holdout",
        1,
    )
    assert (
        recorded.baseline_version == 1 and recorded.rows == len(frame) and recorded.task == "binary"
    )
    y = (frame["Churn"] == "Yes").to_numpy().astype(int)
    score = full.predict_proba(frame[NUMERIC + CATEGORICAL])[:, 1]  # type: ignore[attr-defined]
    assert math.isclose(recorded.overall["roc_auc"] or 0, skm.roc_auc_score(y, score), abs_tol=1e-9)
    assert math.isclose(recorded.overall["f1"] or 0, skm.f1_score(y, score >= 0.5), abs_tol=1e-9)

    report = client.evaluations.get(recorded.id, "churn").report
    assert report is not None
    female = (frame["gender"] == "Female").to_numpy()
    expected = skm.recall_score(y[female], score[female] >= 0.5)
    assert math.isclose(report["slices"]["gender"]["Female"]["recall"], expected, abs_tol=1e-9)
    assert set(report["slices"]) == {"gender", "Contract", "gender+Contract"}
    assert set(report["fairness"]) == {"gender"}
    assert report["baseline"]["difference"]["roc_auc"]["low"] > 0  # the full model is better
    assert report["latency"]["p99_ms"] >= report["latency"]["p50_ms"] > 0
    assert report["bootstrap"]["resamples"] == 30
    listed = client.evaluations.list("churn/churn-lr")
    assert [e.id for e in listed] == [recorded.id]
    assert client.evaluations.list("churn/churn-lr@1") == []
    # the evaluation sits downstream of both the model version and the dataset version
    up = client.lineage.graph(f"churn/evaluations/{recorded.id}", direction="upstream")
    assert {(n.ref, n.depth) for n in up.nodes if n.depth == -1} == {
        ("churn/models/churn-lr@2", -1),
        ("churn/datasets/holdout@v1", -1),
    }
    assert {e.relation for e in up.edges if e.dst == up.root} == {"evaluated", "evaluated-on"}


def test_bad_evaluations_record_nothing(churn: tuple[Client, pd.DataFrame, object]) -> None:
    client = churn[0]
    cases = [
        ({"target": "Nope"}, InvalidInput, "no column"),
        ({"slices": ["missing"]}, InvalidInput, "no column"),
        ({"positive": "Maybe"}, InvalidInput, "classes"),
        ({"baseline": "churn-lr@9"}, NotFound, "version 9"),
    ]
    for options, error, message in cases:
        kwargs = {"target": "Churn", "positive": "Yes", "resamples": 0, **options}
        with pytest.raises(error, match=message):
            client.evaluations.evaluate("churn-lr@2", "holdout@v1", project="churn", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        client.evaluations.evaluate("churn-lr@3", "holdout@v1", "Churn", project="churn")
    with pytest.raises(NotFound):
        client.evaluations.evaluate("churn-lr@2", "holdout@v2", "Churn", project="churn")
    assert client.evaluations.list("churn/churn-lr") == []


def test_recording_needs_model_write_and_data_read(
    services: Services, churn: tuple[Client, pd.DataFrame, object]
) -> None:
    report = {"task": "binary", "rows": 3, "overall": {"roc_auc": 0.5}}
    body = EvaluationCreate(model="churn-lr@1", dataset="holdout@v1", target="Churn", report=report)
    viewer = Principal(name="vi", roles={"churn": Role.VIEWER})
    with pytest.raises(PermissionDenied, match="model:write"):
        services.evaluations.record(viewer, "churn", body)
    stranger = Principal(name="st", roles={"lab": Role.ADMIN})
    with pytest.raises(NotFound):
        services.evaluations.record(stranger, "churn", body)
    with pytest.raises(InvalidInput, match=r"report\.task"):
        services.evaluations.record(
            services.owner, "churn", body.model_copy(update={"report": {"rows": 1}})
        )
    recorded = services.evaluations.record(services.owner, "churn", body)
    assert services.evaluations.get(viewer, "churn", recorded.id).report == report
    with pytest.raises(NotFound):
        services.evaluations.get(stranger, "churn", recorded.id)


def test_model_card_from_the_records(churn: tuple[Client, pd.DataFrame, object]) -> None:
    client = churn[0]
    recorded = client.evaluations.evaluate(
        "churn-lr@2", "holdout@v1", "Churn", project="churn", positive="Yes",
        slices=["gender"], protected=["gender"], resamples=20,
    )  # fmt: skip
    texts = client.models.set_card_texts(
        "churn/churn-lr", intended_use="Monthly **retention** outreach.",
        caveats_and_recommendations="<script>alert(1)</script> Not for pricing.",
    )  # fmt: skip
    assert set(texts) == {"intended_use", "caveats_and_recommendations"}

    card = client.models.card("churn/churn-lr@2")
    assert card.version.version == 2 and card.run is not None
    assert [e["id"] for e in card.evaluations] == [recorded.id]
    markdown = client.models.card("churn/churn-lr@2", format="markdown")
    for section in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data",
                    "Training data", "Quantitative analyses", "Ethical considerations",
                    "Caveats and recommendations"):  # fmt: skip
        assert f"## {section}" in markdown
    assert f"evaluation `{recorded.id[:12]}`" in markdown and "churn/holdout@v1" in markdown
    auc = recorded.overall["roc_auc"]
    assert f"| roc_auc | {auc:.4f} |" in markdown
    assert "Fairness across gender: demographic parity difference" in markdown
    assert f"`churn/runs/{card.run['id']}`" in markdown

    page = client.models.card("churn/churn-lr@2", format="html")
    assert page.startswith("<!doctype html>") and "<script>" not in page
    assert "&lt;script&gt;" in page and "<strong>retention</strong>" in page
    assert "http" not in page.split("<body>")[1]  # self-contained: nothing to fetch

    cleared = client.models.set_card_texts("churn/churn-lr", intended_use="")
    assert set(cleared) == {"caveats_and_recommendations"}
    with pytest.raises(InvalidInput, match="json, markdown or html"):
        client.models.card("churn/churn-lr@2", format="pdf")


def test_card_texts_need_model_write(
    services: Services, churn: tuple[Client, pd.DataFrame, object]
) -> None:
    from tandem.registry.models import CardTexts

    viewer = Principal(name="vi", roles={"churn": Role.VIEWER})
    with pytest.raises(PermissionDenied, match="model:write"):
        services.cards.set_texts(viewer, "churn", "churn-lr", CardTexts(factors="x"))
    assert services.cards.card(viewer, "churn", "churn-lr", "latest").version.version == 2
    with pytest.raises(InvalidInput, match="unknown card sections"):
        services.registry.set_card_texts(services.owner, "churn", "churn-lr", {"history": "x"})


def test_data_the_model_cannot_take_is_a_clear_error(
    churn: tuple[Client, pd.DataFrame, object], tmp_path: Path
) -> None:
    client, frame, _ = churn
    folder = tmp_path / "broken"
    folder.mkdir()
    frame.drop(columns=["MonthlyCharges"]).to_csv(folder / "no-charges.csv", index=False)
    texty = frame.assign(tenure="about " + frame["tenure"].astype(str) + " months")
    texty.to_csv(folder / "texty.csv", index=False)
    client.data.add("no-charges", folder / "no-charges.csv", project="churn")
    client.data.add("texty", folder / "texty.csv", project="churn")
    options = {"project": "churn", "positive": "Yes", "resamples": 0}
    with pytest.raises(InvalidInput, match="lacks columns the model takes: \\['MonthlyCharges'\\]"):
        client.evaluations.evaluate("churn-lr@2", "no-charges@v1", "Churn", **options)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="could not predict on this data"):
        client.evaluations.evaluate("churn-lr@2", "texty@v1", "Churn", **options)  # type: ignore[arg-type]
    assert client.evaluations.list("churn/churn-lr") == []


def test_a_file_that_is_not_its_format_and_a_missing_alias_target(
    churn: tuple[Client, pd.DataFrame, object],
) -> None:
    client = churn[0]
    with client.start_run(project="churn") as run:
        run.log_text("this is not a skops zip file", "models/fake/model.skops")
        meta = {"flavor": "sklearn", "format": "skops", "trusted": False, "files": ["model.skops"]}
        run.log_text(json.dumps(meta), "models/fake/tandem-model.json")
    client.models.register("fake", run.id, "models/fake", project="churn")
    with pytest.raises(InvalidInput, match="not a readable skops file"):
        client.models.load("churn/fake@1")
    before = client.models.get("churn/churn-lr")
    with pytest.raises(NotFound, match="no version 9"):
        client.models.set_alias("churn/churn-lr", "champion", 9)
    assert client.models.get("churn/churn-lr").aliases == before.aliases
