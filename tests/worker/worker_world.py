"""What the worker's end-to-end tests share: a real workspace with project churn, a registered
scikit-learn model deployed to endpoint `prod`, a day of the figures a gateway reports for it
(one window a minute: healthy for 20 hours, then 5 % errors and slow answers for the last 4),
and SLO monitors over it (in place of the default monitors the deploy creates); and how to read
back every result the hub stored."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "deployments"))

from deploy_world import MODEL, register_models, report, window

from tandem.monitoring.models import MonitorResult, MonitorSpec, SignalKind
from tandem.sdk.client import Client
from tandem.server.container import Services

HOUR = 3_600_000
END = 1_796_083_200_000  # 2026-12-01T00:00:00Z: the last window the day's figures close
START = END - 24 * HOUR
AT = END + 5 * 60_000  # the worker's clock: every hourly window of the day is closed and due
AT_TEXT = "2026-12-01T00:05"
BAD_FROM = END - 4 * HOUR

SLOS = {
    "errors": {"objective": "error-rate", "target": 0.999},
    "latency": {"objective": "latency", "target": 0.99, "threshold_ms": 250},
    "errors-strict": {"objective": "error-rate", "target": 0.9999},
}


def seed(services: Services, client: Client, *, monitors: dict[str, dict] | None = None) -> None:
    """Project churn, endpoint prod serving churn-lr@1, a day of reported figures, and one hourly
    SLO monitor (severity page) per entry of `monitors` (default: SLOS)."""
    register_models(client, count=1)
    client.deployments.create("prod", project="churn")
    endpoint = client.deployments.deploy("prod", f"{MODEL}@1", "churn")
    deployment = endpoint.deployments[0].id
    windows = []
    for start in range(START, END, 60_000):
        bad = start >= BAD_FROM
        windows.append(window(
            deployment, start, requests=200, errors=10 if bad else 0,
            latency_ms=400.0 if bad else 20.0, length_ms=60_000,
        ))  # fmt: skip
    client.deployments.report("prod", report(endpoint.policy_version, *windows), "churn")
    # only the monitors these tests count: the defaults the deploy created go
    for default in services.monitoring.list_monitors(services.owner, "churn"):
        services.monitoring.delete(services.owner, "churn", default.name)
    for name, params in (monitors if monitors is not None else SLOS).items():
        spec = MonitorSpec.model_validate({
            "name": name, "endpoint": "prod", "kind": SignalKind.SLO, "window": "1h",
            "params": params, "severity": "page",
        })  # fmt: skip
        services.monitoring.create(services.owner, "churn", spec)


def results(services: Services, project: str = "churn") -> list[MonitorResult]:
    """Every result of every monitor of the project."""
    out: list[MonitorResult] = []
    for monitor in services.monitoring.list_monitors(services.owner, project):
        out += services.monitoring.results(services.owner, project, monitor.name, limit=10_000)
    return out


def windows_evaluated(services: Services) -> Counter[tuple[str, int]]:
    """How many results each (monitor, window start) has: every count must be 1."""
    return Counter((r.monitor, r.window_start) for r in results(services))


def expected_windows(names: list[str] | None = None) -> set[tuple[str, int]]:
    """Every (monitor, window) of the day, for our monitors."""
    return {
        (name, start)
        for name in (names if names is not None else list(SLOS))
        for start in range(START, END, HOUR)
    }
