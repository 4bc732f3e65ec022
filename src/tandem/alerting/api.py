"""REST endpoints for alerts, silences, the project's alert settings and the deliveries.
Parse, call the service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.alerting.models import (
    Alert,
    AlertAck,
    AlertSettings,
    AlertSettingsUpdate,
    Delivery,
    Silence,
    SilenceCreate,
)
from tandem.alerting.service import AlertService
from tandem.core.auth import Action
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy

router = APIRouter(tags=["alerts"])

AlertsDep = Annotated[AlertService, service(AlertService)]
PROJECT = "/projects/{project}"
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get(PROJECT + "/alerts", openapi_extra=policy(Action.MONITOR_READ))
async def list_alerts(
    project: str,
    alerts: AlertsDep,
    principal: PrincipalDep,
    state: Annotated[
        str | None, Query(description="pending, firing, resolved, or open (pending and firing)")
    ] = None,
    endpoint: str | None = None,
    limit: Limit = 100,
) -> list[Alert]:
    """The project's alerts, newest first."""
    return await offload(
        alerts.list_alerts, principal, project, state=state, endpoint=endpoint, limit=limit
    )


@router.get(PROJECT + "/alerts/{alert_id}", openapi_extra=policy(Action.MONITOR_READ))
async def get_alert(
    project: str, alert_id: str, alerts: AlertsDep, principal: PrincipalDep
) -> Alert:
    return await offload(alerts.get_alert, principal, project, alert_id)


@router.post(PROJECT + "/alerts/{alert_id}/ack", openapi_extra=policy(Action.INCIDENT_WRITE))
async def ack_alert(
    project: str, alert_id: str, body: AlertAck, alerts: AlertsDep, principal: PrincipalDep
) -> Alert:
    """Acknowledge a pending or firing alert: no escalation; PagerDuty is told (409 when it is
    resolved or acknowledged already)."""
    return await offload(alerts.ack, principal, project, alert_id, body.comment)


@router.get(PROJECT + "/silences", openapi_extra=policy(Action.MONITOR_READ))
async def list_silences(
    project: str,
    alerts: AlertsDep,
    principal: PrincipalDep,
    all: Annotated[bool, Query(description="the ended and expired ones too")] = False,
) -> list[Silence]:
    return await offload(alerts.list_silences, principal, project, all=all)


@router.post(PROJECT + "/silences", status_code=201, openapi_extra=policy(Action.MONITOR_WRITE))
async def create_silence(
    project: str, body: SilenceCreate, alerts: AlertsDep, principal: PrincipalDep
) -> Silence:
    """Mute the matching alerts until `ends` (or for `duration`): an end is required."""
    return await offload(alerts.create_silence, principal, project, body)


@router.post(PROJECT + "/silences/{silence_id}/expire", openapi_extra=policy(Action.MONITOR_WRITE))
async def expire_silence(
    project: str, silence_id: str, alerts: AlertsDep, principal: PrincipalDep
) -> Silence:
    return await offload(alerts.expire_silence, principal, project, silence_id)


@router.get(PROJECT + "/alert-settings", openapi_extra=policy(Action.MONITOR_READ))
async def get_alert_settings(
    project: str, alerts: AlertsDep, principal: PrincipalDep
) -> AlertSettings:
    return await offload(alerts.get_settings, principal, project)


@router.patch(PROJECT + "/alert-settings", openapi_extra=policy(Action.MONITOR_WRITE))
async def set_alert_settings(
    project: str, body: AlertSettingsUpdate, alerts: AlertsDep, principal: PrincipalDep
) -> AlertSettings:
    """Grouping, timings (`30s`, `5m`, `4h`), escalation and the PagerDuty service."""
    return await offload(alerts.set_settings, principal, project, body)


@router.get(PROJECT + "/alert-deliveries", openapi_extra=policy(Action.MONITOR_READ))
async def list_deliveries(
    project: str,
    alerts: AlertsDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(description="pending, sent or failed")] = None,
    alert: Annotated[str | None, Query(description="one alert's id")] = None,
    limit: Limit = 100,
) -> list[Delivery]:
    """Where each alert message went, its state, attempts and last error."""
    return await offload(
        alerts.list_deliveries, principal, project, state=state, alert=alert, limit=limit
    )
