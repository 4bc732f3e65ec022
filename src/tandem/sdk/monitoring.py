"""`client.monitors`: monitors over an endpoint's live traffic from Python, embedded or remote,
over the REST API. The CLI uses exactly these calls.

    client.monitors.create("drift", endpoint="prod", kind="feature-drift", window="1h",
                           condition="drifted_share >= 0.25", severity="page", owner="mle")
    client.monitors.check()                  # evaluate the closed windows not evaluated yet
    client.monitors.results("drift")[0].breached
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.monitoring.models import (
    CheckSummary,
    Monitor,
    MonitorResult,
    MonitorSpec,
    MonitorStatus,
    MonitorUpdate,
    Severity,
    SignalKind,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
_STATUSES = TypeAdapter(list[MonitorStatus])
_RESULTS = TypeAdapter(list[MonitorResult])


class Monitors:
    """Monitors: a signal (drift, contract, performance, SLO, KPI) over an endpoint's traffic
    per window, with a condition; each window's result kept."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, project: str | None) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}/monitors"

    def create(
        self,
        name: str,
        *,
        endpoint: str,
        kind: SignalKind | str,
        window: str = "1h",
        version: str | None = None,
        params: dict[str, Any] | None = None,
        condition: str | None = None,
        for_: str | None = None,
        keep_firing_for: str | None = None,
        severity: Severity | str = Severity.TICKET,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        runbook: str | None = None,
        owner: str | None = None,
        project: str | None = None,
    ) -> Monitor:
        """Create a monitor. A column in `params["columns"]` must be one the model reads.

        Example:
            client.monitors.create("contract", endpoint="prod", kind="contract")
        """
        spec = MonitorSpec.model_validate(
            {
                "name": name, "endpoint": endpoint, "kind": kind, "window": window,
                "version": version, "params": params or {}, "condition": condition,
                "for": for_, "keep_firing_for": keep_firing_for, "severity": severity,
                "labels": labels or {}, "annotations": annotations or {}, "runbook": runbook,
                "owner": owner,
            }
        )  # fmt: skip
        body = spec.model_dump(mode="json", by_alias=True)
        response = self._http.request("POST", self._base(project), json=body)
        return Monitor.model_validate_json(response.content)

    def list(
        self, *, endpoint: str | None = None, project: str | None = None
    ) -> list[MonitorStatus]:
        """Every monitor (of one endpoint) with its newest window's result."""
        params = {"endpoint": endpoint} if endpoint else {}
        response = self._http.request("GET", self._base(project), params=params)
        return _STATUSES.validate_json(response.content)

    def get(self, name: str, project: str | None = None) -> Monitor:
        response = self._http.request("GET", f"{self._base(project)}/{quote(name, safe='')}")
        return Monitor.model_validate_json(response.content)

    def update(self, name: str, project: str | None = None, **changes: Any) -> Monitor:
        """Change `condition`, `for_`, `keep_firing_for`, `severity`, `labels`, `annotations`,
        `runbook` or `owner`."""
        if "for_" in changes:
            changes["for"] = changes.pop("for_")
        body = MonitorUpdate.model_validate(changes).model_dump(
            mode="json", by_alias=True, exclude_unset=True
        )
        response = self._http.request(
            "PATCH", f"{self._base(project)}/{quote(name, safe='')}", json=body
        )
        return Monitor.model_validate_json(response.content)

    def delete(self, name: str, project: str | None = None) -> None:
        self._http.request("DELETE", f"{self._base(project)}/{quote(name, safe='')}")

    def results(
        self, name: str, *, since: int | None = None, until: int | None = None,
        limit: int = 100, project: str | None = None,
    ) -> builtins.list[MonitorResult]:  # fmt: skip
        """The monitor's window results, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        response = self._http.request(
            "GET", f"{self._base(project)}/{quote(name, safe='')}/results", params=params
        )
        return _RESULTS.validate_json(response.content)

    def check(
        self, monitor: str | None = None, *, now: int | None = None, project: str | None = None
    ) -> CheckSummary:
        """Evaluate every closed window with no result yet (one monitor's, or all)."""
        params: dict[str, Any] = {}
        if monitor is not None:
            params["monitor"] = monitor
        if now is not None:
            params["now"] = now
        response = self._http.request("POST", f"{self._base(project)}/check", params=params)
        return CheckSummary.model_validate_json(response.content)
