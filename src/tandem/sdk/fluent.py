"""Module-level conveniences: `tandem.start_run(...)` with a client built from the settings."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from tandem.core.paging import Page
from tandem.sdk.client import Client
from tandem.sdk.run import ActiveRun
from tandem.tracking.models import Run

_lock = threading.Lock()
_default: Client | None = None


def get_client() -> Client:
    """The process-wide client built from `TANDEM_URL`/`TANDEM_HOME`/`tandem.toml`."""
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def start_run(
    project: str | None = None,
    name: str | None = None,
    *,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    capture_environment: bool = True,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run; use it as a context manager.

    The run records on its own the code version (git commit, dirty flag, diff hash), Python,
    platform, a hash of the installed packages (the list is stored as an artifact), the command
    line, the seed, the user and start and end times. An exception inside the `with` block
    marks the run failed and keeps everything logged so far. With `seed`, the Python, NumPy and
    PyTorch global RNGs already imported are seeded with it.

    Example:
        with tandem.start_run(project="churn", name="baseline", seed=7) as run:
            run.log_params({"model": "gbm", "depth": 6})
            for step in range(100):
                run.log_metrics({"loss": 1 / (step + 1)}, step=step)
    """
    return (client or get_client()).start_run(
        project,
        name,
        seed=seed,
        params=params,
        tags=tags,
        capture_environment=capture_environment,
    )


def search_runs(
    filter: str | None = None,
    *,
    project: str | None = None,
    order_by: Sequence[str] | str | None = None,
    limit: int = 100,
    cursor: str | None = None,
    fields: Sequence[str] | None = None,
) -> Page[Run]:
    """Search runs of a project; see `Client.runs.search`."""
    return get_client().runs.search(
        project, filter, order_by=order_by, limit=limit, cursor=cursor, fields=fields
    )


def load_model(ref: str, *, project: str | None = None, trusted: bool = False) -> Any:
    """The model object of a registered version: `churn-gbm@champion`, `churn-gbm@3`, or
    `churn/churn-gbm` for the latest. Pickle-based versions load only with `trusted=True`."""
    return get_client().models.load(ref, project, trusted=trusted)
