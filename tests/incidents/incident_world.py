"""The incidents tests' shared pieces: a team in project `churn` and a real model serving on
an endpoint (a module of its own: test folders with a conftest cannot import theirs by name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tandem.core.auth import Principal, Role
from tandem.sdk.client import Client
from tandem.server.container import Services

MODEL = "churn-lr"
ROLES = {
    "pm": Role.PRODUCT_MANAGER,
    "ds": Role.DATA_SCIENTIST,
    "mle": Role.ML_ENGINEER,
    "comp": Role.COMPLIANCE,
    "viewer": Role.VIEWER,
}
T0 = 1_796_000_000_000  # a fixed clock for the incidents' own times (ms)
MINUTE = 60_000


@dataclass
class Team:
    services: Services
    principals: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Principal:
        return self.principals[name]


def register_models(
    client: Client, project: str = "churn", count: int = 2, data: Path | None = None
) -> None:
    """`count` versions of churn-lr: one-feature logistic regressions on the same sample;
    with `data` (a folder), the sample is dataset `sample@v1`, which each training run reads."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 1))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    if data is not None:
        data.mkdir(exist_ok=True)
        pd.DataFrame({"x": x[:, 0], "y": y}).to_csv(data / "sample.csv", index=False)
        client.data.add("sample", data / "sample.csv", project=project)
    for c in (1.0, 0.1, 0.01)[:count]:
        model = LogisticRegression(C=c).fit(x, y)
        with client.start_run(project=project) as run:
            if data is not None:
                run.use_dataset("sample@v1", role="train")
            run.log_model(model, MODEL, example=x[:3])
