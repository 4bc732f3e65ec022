"""The project's alert list: firing and pending alerts first, each with its monitor's value, who it
was routed to, who acknowledged it, the silences muting it and the incident it opened; an
acknowledge button for the responders and a silence form (prefilled with the alert's labels) for
the members who may silence; the active silences with an expire button.

The forms post to the alerting service, which checks who may (acknowledging needs
`incident:write`, silencing `monitor:write`) and refuses a silence without a comment or an end;
the page shows its reason beside the form, with what was typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from tandem.alerting.models import (
    Alert,
    AlertAck,
    AlertSettings,
    AlertSettingsUpdate,
    AlertState,
    SilenceCreate,
)
from tandem.core.auth import Action, Principal
from tandem.errors import TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.web.access import is_user_mistake
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

ALERTS_READ = 1000  # the newest alerts the page reads (the service's most)
STATES = ("active", "firing", "pending", "resolved", "all")
DURATIONS = {"1h": "1 hour", "4h": "4 hours", "1d": "1 day", "3d": "3 days", "7d": "1 week"}
SILENCE_LABELS = ("alertname", "endpoint", "severity")  # what a silence from an alert matches
NOTICES = {
    "acked": "Acknowledged: the alert stops escalating, and the team sees who is on it.",
    "silenced": "Silenced: matching alerts are muted until the silence ends.",
    "expired": "The silence has ended: matching alerts notify again.",
    "settings": "The alert settings are saved: the next alerts are grouped and sent by them.",
}
REFRESH_S = 30  # static/refresh.js reloads the alert list this often
SETTINGS_FIELDS = ("group_by", "group_wait", "group_interval", "repeat_interval",
                   "escalate_after", "pagerduty_routing_key", "pagerduty_url")  # fmt: skip
ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}
SEVERITY_ORDER = {"page": 0, "ticket": 1, "info": 2}


def _q(value: str) -> str:
    return quote(value, safe="")


def _matchers_of(alert: Alert) -> str:
    """The matchers a silence from this alert starts with: its name, endpoint and severity."""
    labels = {"alertname": alert.name, **alert.labels}
    if alert.endpoint:
        labels.setdefault("endpoint", alert.endpoint)
    labels.setdefault("severity", alert.severity.value)
    return "\n".join(f"{k}={labels[k]}" for k in SILENCE_LABELS if labels.get(k))


def _shown(alerts: list[Alert], state: str) -> list[Alert]:
    if state == "active":
        alerts = [a for a in alerts if a.state is not AlertState.RESOLVED]
    elif state != "all":
        alerts = [a for a in alerts if a.state.value == state]
    return sorted(
        alerts,
        key=lambda a: (ORDER[a.state], SEVERITY_ORDER.get(a.severity.value, 3), -a.starts_at),
    )


def _context(services: Services, principal: Principal, project: str, state: str) -> dict[str, Any]:
    alerts = services.alerts.list_alerts(principal, project, limit=ALERTS_READ)
    silences = services.alerts.list_silences(principal, project)
    settings = services.alerts.get_settings(principal, project)
    shown = _shown(alerts, state)
    return {
        "settings": settings,
        "settings_typed": settings_fields(settings),
        "alerts": [{"a": a, "matchers": _matchers_of(a)} for a in shown],
        "counts": {s: len(_shown(alerts, s)) for s in STATES},
        "silences": [s for s in silences if s.active],
        "may_ack": principal.may(Action.INCIDENT_WRITE, project),
        "may_silence": principal.may(Action.MONITOR_WRITE, project),
    }


async def _alerts_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    *,
    state: str = "active",
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    state = state if state in STATES else "active"
    found = await offload(_context, services, principal, project, state)
    context = {
        "project": project,
        **found,
        "state": state,
        "states": STATES,
        "durations": DURATIONS,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "refresh_s": REFRESH_S,
        "crumbs": [("Projects", "/"), (project, f"/projects/{_q(project)}"), ("Alerts", None)],
    }
    return render(request, "alerts.html", context, principal=principal, status=status)


@router.get("/projects/{project}/alerts", openapi_extra=policy(Action.MONITOR_READ))
async def alerts_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep,
    state: str = "active",
) -> Response:  # fmt: skip
    return await _alerts_page(request, services, principal, project, state=state)


@router.post("/projects/{project}/alerts/{alert}/ack", openapi_extra=policy(Action.INCIDENT_WRITE))
async def ack_alert(
    request: Request, project: str, alert: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)
    try:
        comment = AlertAck(comment=text(form, "comment", 2000).strip()).comment
        await offload(services.alerts.ack, principal, project, alert, comment)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        error = {"form": f"ack-{alert}", "message": exc.message}
        return await _alerts_page(
            request, services, principal, project, error=error, status=exc.status
        )
    return redirect(f"/projects/{_q(project)}/alerts?notice=acked")


FIELD_HELP = {  # what a person should do when the form's field is refused
    "comment": "Say why you silence these alerts: the reason is kept with the silence.",
    "matchers": "Name at least one label to match, one per line, e.g. endpoint=prod.",
}


def _explained(exc: TandemError | ValidationError) -> tuple[str | None, str]:
    """The form field at fault (if known) and what to tell the person."""
    if isinstance(exc, TandemError):
        field = exc.details.get("field") if isinstance(exc.details, dict) else None
        return (field if isinstance(field, str) else None), exc.message
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    return field, FIELD_HELP.get(field or "", f"{field}: {first['msg']}")


@router.post("/projects/{project}/silences", openapi_extra=policy(Action.MONITOR_WRITE))
async def add_silence(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A silence from the alert list: matchers one per line, a duration or an end, a reason."""
    form = await checked_form(request, project)
    typed = {
        "matchers": text(form, "matchers", 4000),
        "duration": text(form, "duration", 20).strip(),
        "ends": text(form, "ends", 64).strip(),
        "comment": text(form, "comment", 2000).strip(),
        "alert": text(form, "alert", 64),
    }
    matchers = [line.strip() for line in typed["matchers"].splitlines() if line.strip()]
    try:
        data = SilenceCreate(
            matchers=matchers,
            duration=None if typed["ends"] else typed["duration"] or None,
            ends=typed["ends"] or None,
            comment=typed["comment"],
        )
        await offload(services.alerts.create_silence, principal, project, data)
    except (TandemError, ValidationError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        field, message = _explained(exc)
        error = {"form": f"silence-{typed['alert'] or 'new'}", "message": message,
                 "field": field, "typed": typed}  # fmt: skip
        status = exc.status if isinstance(exc, TandemError) else 422
        return await _alerts_page(request, services, principal, project, error=error, status=status)
    return redirect(f"/projects/{_q(project)}/alerts?notice=silenced")


@router.post(
    "/projects/{project}/silences/{silence}/expire", openapi_extra=policy(Action.MONITOR_WRITE)
)
async def expire_silence(
    request: Request, project: str, silence: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await checked_form(request, project)
    await offload(services.alerts.expire_silence, principal, project, silence)
    return redirect(f"/projects/{_q(project)}/alerts?notice=expired#silences-h")


def span(seconds: int) -> str:
    """Seconds as the shortest duration the settings accept back: 30s, 5m, 4h, 1d, 1h30m."""
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def settings_fields(settings: AlertSettings) -> dict[str, str]:
    """The settings as the form shows them (the routing key is never sent back)."""
    return {
        "group_by": ", ".join(settings.group_by),
        "group_wait": span(settings.group_wait_s),
        "group_interval": span(settings.group_interval_s),
        "repeat_interval": span(settings.repeat_interval_s),
        "escalate_after": span(settings.escalate_after_s),
        "pagerduty_routing_key": "",
        "pagerduty_url": settings.pagerduty_url,
    }


@router.post("/projects/{project}/alert-settings", openapi_extra=policy(Action.MONITOR_WRITE))
async def save_settings(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """The project's grouping, timings, escalation and PagerDuty service (`tandem alerts
    settings`); an empty routing key keeps the current one, `remove_pagerduty` removes it."""
    form = await checked_form(request, project)
    typed = {f: text(form, f, 2000).strip() for f in SETTINGS_FIELDS}
    remove = text(form, "remove_pagerduty", 5) == "yes"
    try:
        data = AlertSettingsUpdate(
            group_by=[g.strip() for g in typed["group_by"].split(",") if g.strip()] or None,
            group_wait=typed["group_wait"] or None,
            group_interval=typed["group_interval"] or None,
            repeat_interval=typed["repeat_interval"] or None,
            escalate_after=typed["escalate_after"] or None,
            pagerduty_routing_key="" if remove else typed["pagerduty_routing_key"] or None,
            pagerduty_url=typed["pagerduty_url"] or None,
        )
        await offload(services.alerts.set_settings, principal, project, data)
    except (TandemError, ValidationError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        field, message = _explained(exc)
        typed["pagerduty_routing_key"] = ""  # a secret: never echoed into the page
        error = {"form": "settings", "message": message, "field": field, "typed": typed}
        status = exc.status if isinstance(exc, TandemError) else 422
        return await _alerts_page(request, services, principal, project, error=error, status=status)
    return redirect(f"/projects/{_q(project)}/alerts?notice=settings#settings-h")
