"""tandem: one self-hosted hub for the whole life of a model.

import tandem
with tandem.start_run(project="churn", name="baseline", seed=7) as run:
    run.log_params({"model": "gbm", "depth": 6})
    run.log_metrics({"loss": 0.3, "auc": 0.81}, step=1)
"""

from __future__ import annotations

__version__ = "0.1.0"

from tandem import errors
from tandem.sdk.client import Client
from tandem.sdk.fluent import get_client, search_runs, start_run
from tandem.sdk.run import ActiveRun

__all__ = [
    "ActiveRun",
    "Client",
    "__version__",
    "errors",
    "get_client",
    "search_runs",
    "start_run",
]
