"""`client.deployments`: endpoints, releases and their history from Python, embedded or remote,
over the REST API. The serving gateway and the CLI use exactly these calls.

    client.deployments.create("prod", production=True, project="churn")
    client.deployments.deploy("prod", "churn-lr@3", strategy="canary", steps=[5, 25, 50, 100],
                              guards=["error_rate < 0.01", "p99_ms < 50"], min_samples=500)
    client.deployments.rollback("prod", message="p99 doubled")
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.core.paging import Page
from tandem.core.refs import parse_model_ref
from tandem.deployments.models import (
    Analysis,
    DeploymentEvent,
    DeployRequest,
    Endpoint,
    EndpointCreate,
    EndpointUpdate,
    Policy,
    ReportAck,
    Runtime,
    ServedAt,
    Serving,
    StatsReport,
    Strategy,
    TrafficChange,
    WindowPoint,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
_ENDPOINTS = TypeAdapter(list[Endpoint])
_POINTS = TypeAdapter(list[WindowPoint])
_SERVING = TypeAdapter(list[Serving])
_ANALYSIS = TypeAdapter(Analysis | None)


class Deployments:
    """Serving endpoints: their traffic policy, releases (replace, canary, blue-green, shadow),
    promotion and rollback, the figures gateways report, and the history of every change."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, project: str | None) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}"

    def _endpoint(self, name: str, project: str | None) -> str:
        return f"{self._base(project)}/endpoints/{quote(name, safe='')}"

    # -- endpoints --------------------------------------------------------------------------

    def create(
        self, name: str, project: str | None = None, *, production: bool = False,
        description: str = "", sticky_key: str | None = None, sampling: float = 1.0,
        log_personal: bool = False,
    ) -> Endpoint:  # fmt: skip
        """A new endpoint; `production=True` takes only versions that passed their gate."""
        body = EndpointCreate(
            name=name, production=production, description=description, sticky_key=sticky_key,
            sampling=sampling, log_personal=log_personal,
        )  # fmt: skip
        response = self._http.request(
            "POST", f"{self._base(project)}/endpoints", json=body.model_dump()
        )
        return Endpoint.model_validate_json(response.content)

    def list(self, project: str | None = None) -> builtins.list[Endpoint]:
        return _ENDPOINTS.validate_json(
            self._http.request("GET", f"{self._base(project)}/endpoints").content
        )

    def get(self, name: str, project: str | None = None) -> Endpoint:
        return Endpoint.model_validate_json(
            self._http.request("GET", self._endpoint(name, project)).content
        )

    def update(
        self, name: str, project: str | None = None, *, description: str | None = None,
        sticky_key: str | None = None, sampling: float | None = None,
        log_personal: bool | None = None,
    ) -> Endpoint:  # fmt: skip
        """Change settings; the ones left None stay (sticky_key="" removes it)."""
        body = EndpointUpdate(
            description=description, sticky_key=sticky_key, sampling=sampling,
            log_personal=log_personal,
        ).model_dump(exclude_none=True)  # fmt: skip
        response = self._http.request("PATCH", self._endpoint(name, project), json=body)
        return Endpoint.model_validate_json(response.content)

    def delete(self, name: str, project: str | None = None) -> None:
        """Delete an endpoint and its history (refused while gateways report traffic)."""
        self._http.request("DELETE", self._endpoint(name, project))

    # -- releases and traffic ---------------------------------------------------------------

    def deploy(
        self, endpoint: str, model_ref: str, project: str | None = None, *,
        strategy: Strategy | str = "replace", steps: Sequence[float] | None = None,
        interval_s: float = 60, guards: Iterable[str] = (), min_samples: int = 100,
        mirror: float = 100, warm_s: float = 600, trusted: bool = False, message: str = "",
    ) -> Endpoint:  # fmt: skip
        """Release `model_ref` ("churn-lr@3", "churn-lr@champion") to the endpoint."""
        ref = parse_model_ref(model_ref)
        fields: dict[str, Any] = {
            "model": ref.name, "version": ref.selector, "strategy": Strategy(strategy),
            "interval_s": interval_s, "guards": builtins.list(guards),
            "min_samples": min_samples, "mirror": mirror, "warm_s": warm_s,
            "runtime": Runtime(trusted=trusted), "message": message,
        }  # fmt: skip
        if steps is not None:
            fields["steps"] = builtins.list(steps)
        body = DeployRequest(**fields)
        project = project or ref.project
        response = self._http.request(
            "POST", self._endpoint(endpoint, project) + "/deploy",
            json=body.model_dump(mode="json"),
        )  # fmt: skip
        return Endpoint.model_validate_json(response.content)

    def _change(self, name: str, project: str | None, what: str, message: str,
                expected_policy_version: int | None) -> Endpoint:  # fmt: skip
        body = TrafficChange(message=message, expected_policy_version=expected_policy_version)
        response = self._http.request(
            "POST", self._endpoint(name, project) + f"/{what}", json=body.model_dump()
        )
        return Endpoint.model_validate_json(response.content)

    def promote(self, name: str, project: str | None = None, *, message: str = "",
                expected_policy_version: int | None = None) -> Endpoint:  # fmt: skip
        """Finish the rollout under way: the candidate takes all the traffic."""
        return self._change(name, project, "promote", message, expected_policy_version)

    def pause(self, name: str, project: str | None = None, *, message: str = "",
              expected_policy_version: int | None = None) -> Endpoint:  # fmt: skip
        return self._change(name, project, "pause", message, expected_policy_version)

    def resume(self, name: str, project: str | None = None, *, message: str = "",
               expected_policy_version: int | None = None) -> Endpoint:  # fmt: skip
        return self._change(name, project, "resume", message, expected_policy_version)

    def rollback(self, name: str, project: str | None = None, *, message: str = "",
                 expected_policy_version: int | None = None) -> Endpoint:  # fmt: skip
        """Back to the previous deployment (the rollout's baseline, or the rollback target)."""
        return self._change(name, project, "rollback", message, expected_policy_version)

    def analyse(self, name: str, project: str | None = None) -> Analysis | None:
        """Run the controller now; None when no rollout is under way."""
        response = self._http.request("POST", self._endpoint(name, project) + "/analyse")
        return _ANALYSIS.validate_json(response.content)

    # -- gateways ---------------------------------------------------------------------------

    def policy(self, name: str, project: str | None = None, *,
               etag: int | None = None) -> Policy | None:  # fmt: skip
        """The endpoint's policy; None when it is still version `etag` (HTTP 304)."""
        headers = {"If-None-Match": f'"{etag}"'} if etag is not None else None
        response = self._http.request(
            "GET", self._endpoint(name, project) + "/policy", headers=headers
        )
        if response.status_code == 304:
            return None
        return Policy.model_validate_json(response.content)

    def report(self, name: str, report: StatsReport, project: str | None = None) -> ReportAck:
        """A gateway's figures; the answer carries the current policy version."""
        response = self._http.request(
            "POST", self._endpoint(name, project) + "/stats", json=report.model_dump(mode="json")
        )
        return ReportAck.model_validate_json(response.content)

    # -- history and figures ----------------------------------------------------------------

    def history(self, name: str, project: str | None = None, *, limit: int = 50,
                cursor: str | None = None) -> Page[DeploymentEvent]:  # fmt: skip
        """Every traffic change, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = self._http.request(
            "GET", self._endpoint(name, project) + "/history", params=params
        )
        return Page[DeploymentEvent].model_validate_json(response.content)

    def served_at(self, name: str, at: str | int | dt.datetime,
                  project: str | None = None) -> ServedAt:  # fmt: skip
        """What served the endpoint at `at` (ISO-8601 text, ms since the epoch, a datetime)."""
        if isinstance(at, dt.datetime):
            at = int((at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp() * 1000)
        response = self._http.request(
            "GET", self._endpoint(name, project) + "/served-at", params={"at": str(at)}
        )
        return ServedAt.model_validate_json(response.content)

    def windows(
        self, name: str, project: str | None = None, *, since: int | None = None,
        until: int | None = None, bucket_s: int = 10,
    ) -> builtins.list[WindowPoint]:  # fmt: skip
        """Each deployment's figures per time bucket (ms since the epoch; default last hour)."""
        params: dict[str, Any] = {"bucket_s": bucket_s}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        response = self._http.request(
            "GET", self._endpoint(name, project) + "/windows", params=params
        )
        return _POINTS.validate_json(response.content)

    def serving(self, project: str | None = None, *, model: str | None = None,
                version: int | None = None) -> builtins.list[Serving]:  # fmt: skip
        """Where model versions serve in the project."""
        params: dict[str, Any] = {}
        if model is not None:
            params["model"] = model
        if version is not None:
            params["version"] = version
        response = self._http.request("GET", f"{self._base(project)}/serving", params=params)
        return _SERVING.validate_json(response.content)
