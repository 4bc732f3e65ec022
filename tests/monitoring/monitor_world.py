"""What the monitoring tests share: a project whose model was trained on a dataset version with
a contract and a stored profile, deployed to an endpoint, and predictions logged the way a
gateway logs them (the gateway's own encoding, shipped through the SDK).

Times are fixed hours in the past (the clock is the tests' `now=`), so windows are exact."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tandem.deployments.models import DeployRequest, EndpointCreate
from tandem.sdk.client import Client
from tandem.server.container import Services
from tandem.serving.predlog import to_arrow

HOUR = 3_600_000
H0 = 1_796_000_000_000 // HOUR * HOUR  # 2026-11-30, an hour's start
COLUMNS = ["tenure", "charges", "age"]
PROJECT = "churn"
MODEL = "churn-lr"
CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: churn-train
version: 1.0.0
status: active
schema:
  - name: train
    properties:
      - name: tenure
        logicalType: number
        logicalTypeOptions: {minimum: 0, maximum: 100}
      - name: charges
        logicalType: number
        logicalTypeOptions: {minimum: 0}
      - name: age
        logicalType: number
        logicalTypeOptions: {minimum: 18, maximum: 100}
      - name: churn
        logicalType: integer
"""


def population(rows: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """The customers: the training population, or one with `shift` added to columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(40, 12, rows).clip(0, 100).round(1),
            "charges": rng.normal(70, 15, rows).clip(0, None).round(2),
            "age": rng.normal(45, 10, rows).clip(18, 100).round(0),
        }
    )
    for column, delta in (shift or {}).items():
        frame[column] = frame[column] + delta
    return frame


def build(services: Services, client: Client, *, keep_defaults: bool = False) -> LogisticRegression:
    """Project churn: dataset train@v1 (contract passed, profile stored), churn-lr@1 trained
    on it (the run uses it as training data), deployed to endpoint prod (not production). The
    default monitors the deploy made are deleted unless `keep_defaults`."""
    client.projects.create(PROJECT)
    frame = population(4_000, seed=1)
    rng = np.random.default_rng(2)
    frame["churn"] = ((frame["tenure"] < 35) ^ (rng.random(len(frame)) < 0.1)).astype(int)
    train = client.data.add("train", frame, project=PROJECT)
    client.data.validate(train.ref, contract=CONTRACT)
    model = LogisticRegression().fit(frame[COLUMNS], frame["churn"])
    with client.start_run(project=PROJECT) as run:
        run.use_dataset(train.ref, role="train")
        run.log_model(model, MODEL, example=frame[COLUMNS].head(3))
    owner = services.owner
    services.deployments.create_endpoint(owner, PROJECT, EndpointCreate(name="prod"))
    services.deployments.deploy(owner, PROJECT, "prod", DeployRequest(model=MODEL, version="1"))
    if not keep_defaults:
        for monitor in services.monitoring.list_monitors(owner, PROJECT):
            services.monitoring.delete(owner, PROJECT, monitor.name)
    return model


def ship_window(
    client: Client,
    model: LogisticRegression,
    start: int,
    rows: int,
    *,
    seed: int,
    shift: dict[str, float] | None = None,
    batch: str | None = None,
    override: dict[str, Sequence[float]] | None = None,
) -> None:
    """`rows` requests served in [start, start + rows ms), one row each, logged as the gateway
    logs them (inputs in split form, the predicted class as output) and shipped in one batch."""
    frame = population(rows, seed, shift)
    for column, values in (override or {}).items():
        frame[column] = list(values) + list(frame[column][len(values) :])
    predictions = model.predict(frame[COLUMNS])
    entries = []
    for i, (values, predicted) in enumerate(
        zip(frame[COLUMNS].itertuples(index=False), predictions, strict=True)
    ):
        inputs = orjson.dumps({"columns": COLUMNS, "data": [list(values)]}).decode()
        output = orjson.dumps([int(predicted)]).decode()
        entries.append((f"r-{start}-{i}", start + i, "d-1", MODEL, 1, 200, 1.5, inputs, output))
    client.predictions.ship(
        "prod", to_arrow(entries), gateway="gw-1", batch=batch or f"b-{start}", project=PROJECT
    )
