"""tandem: one self-hosted hub for the whole life of a model.

import tandem
with tandem.start_run(project="churn", name="baseline", seed=7) as run:
    run.log_params({"model": "gbm", "depth": 6})
    run.log_metrics({"loss": 0.3, "auc": 0.81}, step=1)
"""

from __future__ import annotations

from tandem import errors
from tandem.core.version import __version__

TYPE_CHECKING = False  # not `typing`: the `tandem` command imports this package at start-up

if TYPE_CHECKING:
    from typing import Any

    from tandem.sdk.client import Client
    from tandem.sdk.fluent import get_client, load_model, search_runs, start_run
    from tandem.sdk.run import ActiveRun

# The SDK is imported on first use, so `import tandem.cli` (every command, `tandem --help`)
# does not pay for httpx and pydantic models it may not need.
_LAZY = {
    "Client": "tandem.sdk.client",
    "ActiveRun": "tandem.sdk.run",
    "get_client": "tandem.sdk.fluent",
    "load_model": "tandem.sdk.fluent",
    "search_runs": "tandem.sdk.fluent",
    "start_run": "tandem.sdk.fluent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tandem' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ActiveRun",
    "Client",
    "__version__",
    "errors",
    "get_client",
    "load_model",
    "search_runs",
    "start_run",
]
