"""`client.alerts`: a project's alerts, silences, alert settings and deliveries from Python,
embedded or remote, over the REST API. The CLI uses exactly these calls.

    client.alerts.list(project="churn", state="firing")
    client.alerts.ack("al-3f9a1c0d", project="churn", comment="looking")
    client.alerts.silence(["endpoint=prod"], duration="2h", comment="retraining", project="churn")
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.alerting.models import (
    Alert,
    AlertAck,
    AlertSettings,
    AlertSettingsUpdate,
    Delivery,
    Silence,
    SilenceCreate,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
_ALERTS = TypeAdapter(list[Alert])
_SILENCES = TypeAdapter(list[Silence])
_DELIVERIES = TypeAdapter(list[Delivery])


class Alerts:
    """Alerts raised by monitors, routed by the project's RACI: list and acknowledge them,
    silence them for a while, tune grouping and escalation, see where each message went."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, project: str | None) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}"

    def list(
        self, project: str | None = None, *, state: str | None = None,
        endpoint: str | None = None, limit: int = 100,
    ) -> builtins.list[Alert]:  # fmt: skip
        """Newest first; `state`: pending, firing, resolved or open (pending and firing)."""
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params["state"] = state
        if endpoint is not None:
            params["endpoint"] = endpoint
        response = self._http.request("GET", f"{self._base(project)}/alerts", params=params)
        return _ALERTS.validate_json(response.content)

    def get(self, alert_id: str, project: str | None = None) -> Alert:
        path = f"{self._base(project)}/alerts/{quote(alert_id, safe='')}"
        return Alert.model_validate_json(self._http.request("GET", path).content)

    def ack(self, alert_id: str, project: str | None = None, *, comment: str = "") -> Alert:
        """Acknowledge a firing alert: it is not escalated, and PagerDuty is told."""
        path = f"{self._base(project)}/alerts/{quote(alert_id, safe='')}/ack"
        body = AlertAck(comment=comment).model_dump()
        return Alert.model_validate_json(self._http.request("POST", path, json=body).content)

    # -- silences ----------------------------------------------------------------------------

    def silence(
        self, matchers: Iterable[str], project: str | None = None, *, comment: str,
        duration: str | None = None, ends: str | None = None, starts: str | None = None,
    ) -> Silence:  # fmt: skip
        """Mute the alerts matching every matcher (`endpoint=prod`, `severity=~page|ticket`)
        for `duration` (`2h`) or until `ends`; one of them is required."""
        body = SilenceCreate(
            matchers=builtins.list(matchers), comment=comment, duration=duration, ends=ends,
            starts=starts,
        ).model_dump(exclude_none=True)  # fmt: skip
        response = self._http.request("POST", f"{self._base(project)}/silences", json=body)
        return Silence.model_validate_json(response.content)

    def silences(self, project: str | None = None, *, all: bool = False) -> builtins.list[Silence]:
        """The silences that have not ended (every one with `all=True`)."""
        response = self._http.request("GET", f"{self._base(project)}/silences", params={"all": all})
        return _SILENCES.validate_json(response.content)

    def expire(self, silence_id: str, project: str | None = None) -> Silence:
        """End a silence now."""
        path = f"{self._base(project)}/silences/{quote(silence_id, safe='')}/expire"
        return Silence.model_validate_json(self._http.request("POST", path).content)

    # -- settings and deliveries -------------------------------------------------------------

    def settings(self, project: str | None = None) -> AlertSettings:
        response = self._http.request("GET", f"{self._base(project)}/alert-settings")
        return AlertSettings.model_validate_json(response.content)

    def configure(
        self, project: str | None = None, *, group_by: Iterable[str] | None = None,
        group_wait: str | None = None, group_interval: str | None = None,
        repeat_interval: str | None = None, escalate_after: str | None = None,
        pagerduty_routing_key: str | None = None, pagerduty_url: str | None = None,
    ) -> AlertSettings:  # fmt: skip
        """Change grouping, timings (`30s`, `5m`, `4h`), escalation and the PagerDuty service;
        what is left None stays."""
        body = AlertSettingsUpdate(
            group_by=None if group_by is None else builtins.list(group_by),
            group_wait=group_wait, group_interval=group_interval,
            repeat_interval=repeat_interval, escalate_after=escalate_after,
            pagerduty_routing_key=pagerduty_routing_key, pagerduty_url=pagerduty_url,
        ).model_dump(exclude_none=True)  # fmt: skip
        response = self._http.request("PATCH", f"{self._base(project)}/alert-settings", json=body)
        return AlertSettings.model_validate_json(response.content)

    def deliveries(
        self, project: str | None = None, *, state: str | None = None,
        alert: str | None = None, limit: int = 100,
    ) -> builtins.list[Delivery]:  # fmt: skip
        """Where each alert message went (app, webhook, PagerDuty), its state and attempts."""
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params["state"] = state
        if alert is not None:
            params["alert"] = alert
        response = self._http.request(
            "GET", f"{self._base(project)}/alert-deliveries", params=params
        )
        return _DELIVERIES.validate_json(response.content)
