"""What the deployments tests share: real scikit-learn models registered in a real workspace,
and the windows a gateway would report for them."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from tandem.deployments.analysis import BUCKETS, bucket_of
from tandem.deployments.models import ShadowFigures, StatsReport, WindowStats
from tandem.sdk.client import Client

MODEL = "churn-lr"


def register_models(client: Client, project: str = "churn", count: int = 3) -> None:
    """Project `project` (created) with `count` versions of churn-lr: one-feature logistic
    regressions fitted on the same real sample with different regularisation."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 1))
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    client.projects.create(project)
    for c in (1.0, 0.1, 0.01)[:count]:
        model = LogisticRegression(C=c).fit(x, y)
        with client.start_run(project=project) as run:
            run.log_model(model, MODEL, example=x[:3])


def window(
    deployment: str, start: int, *, requests: int, errors: int = 0, latency_ms: float = 2.0,
    length_ms: int = 1000, shadow: ShadowFigures | None = None,
) -> WindowStats:  # fmt: skip
    """A window in which every request took `latency_ms`."""
    counts = [0] * BUCKETS
    counts[bucket_of(latency_ms)] = requests
    return WindowStats(
        deployment=deployment, start=start, end=start + length_ms, requests=requests,
        errors=errors, latency_counts=counts, shadow=shadow,
    )  # fmt: skip


def report(policy_version: int, *windows: WindowStats, gateway: str = "gw-1",
           load_failures: dict[str, str] | None = None) -> StatsReport:  # fmt: skip
    return StatsReport(
        gateway=gateway, policy_version=policy_version, windows=list(windows),
        load_failures=load_failures or {},
    )  # fmt: skip
