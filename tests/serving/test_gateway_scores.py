"""A served classifier's scores reach the prediction log: `tandem serve` as a real process on
loopback serving a scikit-learn LogisticRegression, requests over HTTP, labels added through the
SDK. The caller still gets class labels; the log keeps each prediction with the positive class's
probability, so the realised ROC AUC is the scores' (not that of 0/1 labels) and CBPE has an
estimate for a window before its labels come."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from gateway_world import GatewayProcess, register_models
from processes import free_port
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.tree import DecisionTreeClassifier  # type: ignore[import-untyped]

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.serving.predictor import build_predictor

pytestmark = pytest.mark.slow

HOUR = 3_600_000


@pytest.fixture
def hub(settings: Settings):
    client = Client(settings=settings)
    register_models(client, versions=1)
    yield client
    embedded.close_all()


def test_a_served_classifier_logs_its_scores_for_auc_and_cbpe(
    hub: Client, env, tmp_path: Path
) -> None:
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", "churn-lr@1", "churn")
    served = GatewayProcess(tmp_path, env, free_port(), "prod", "-p", "churn", "--poll", "0.2")
    served.start()
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    y = (x + rng.normal(scale=0.8, size=300) > 0).astype(int)  # the fitted model's world
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for i, value in enumerate(x.tolist()):
                answer = http.post(
                    "/invocations",
                    json={"dataframe_split": {"columns": ["x"], "data": [[value]]}},
                    headers={"x-request-id": f"req-{i}"},
                )
                assert answer.status_code == 200, answer.text
                # the caller's answer is what it was: the class label, no scores
                assert answer.json() in ({"predictions": [0]}, {"predictions": [1]})
        assert served.stop() == 0  # a clean stop ships the log first
    finally:
        served.close()

    logged = hub.predictions.get("prod", "req-0", "churn")
    (row,) = logged.output
    assert set(row) == {"prediction", "score"} and row["prediction"] in (0, 1)
    assert 0 < row["score"] < 1 and (row["score"] > 0.5) == (row["prediction"] == 1)

    now_ms = logged.at + HOUR
    span = {"since": logged.at // HOUR * HOUR, "until": now_ms}
    before = hub.outcomes.estimates("prod", "churn", **span)
    assert {(e.metric, e.estimated) for e in before} >= {("roc_auc", True), ("accuracy", True)}
    for e in before:
        assert e.value is not None and e.band.low <= e.value <= e.band.high
        assert 0.5 < e.value < 1  # CBPE from probabilities, not from 0/1 labels

    labels = pa.table({"request_id": [f"req-{i}" for i in range(300)], "label": y.tolist()})
    receipt = hub.outcomes.add_labels("prod", labels, "churn")
    assert (receipt.matched, receipt.unknown) == (300, 0)
    windows = hub.outcomes.performance("prod", "churn")
    samples = sum(w.samples for w in windows)
    assert samples == 300
    # the probability rises with x (one positive coefficient), so the logged scores rank the
    # requests as x does: the realised AUC is x's, to rounding (0/1 labels as scores give less)
    weighted = sum(w.metrics["roc_auc"] * w.samples for w in windows) / samples
    if len(windows) == 1:
        assert windows[0].metrics["roc_auc"] == pytest.approx(roc_auc_score(y, x), abs=1e-9)
    labels_only = roc_auc_score(y, (x > 0).astype(int))
    assert weighted > labels_only
    after = hub.outcomes.estimates("prod", "churn", **span)
    assert any(not e.estimated for e in after)


def test_a_tree_classifier_logs_predict_proba_beside_its_labels() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 2))
    y = np.where(x[:, 0] > 0, "yes", "no")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    predictor = build_predictor(model, "sklearn", None)
    assert predictor.probabilities and predictor.shortcut == ""
    rows = x[:3]
    outputs = predictor.predict(rows)
    assert outputs == model.predict(rows).tolist()
    import orjson

    logged = orjson.loads(predictor.log_output(rows, outputs) or b"null")
    assert [r["prediction"] for r in logged] == outputs
    assert [r["score"] for r in logged] == pytest.approx(model.predict_proba(rows)[:, 1])
