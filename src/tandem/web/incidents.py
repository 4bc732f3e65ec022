"""Incident pages: the project's incidents with a form to open one by hand; one incident with its
status buttons, its playbook ticked step by step, a one-click rollback of its endpoint, notes and
its timeline (its own entries, the alerts that paged it, the endpoint's deployment events, gate
decisions and comments). The postmortem pages are in `tandem.web.postmortems`.

Every form posts to the incidents service, which decides who may (responding needs
`incident:write`; the rollback is the deployments service's own check, as the person) and says
why not; the page shows that beside the form, with what was typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.errors import InvalidInput, TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.incidents.models import (
    STATUS_ORDER,
    Incident,
    IncidentCreate,
    IncidentPatch,
    IncidentSeverity,
    IncidentStatus,
    NoteCreate,
    RollbackRequest,
    StatusChange,
    TickRequest,
)
from tandem.web.access import is_user_mistake
from tandem.web.deployments import may_change
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

SEVERITIES = {
    "sev1": "SEV1: customers are harmed now (wrong decisions, outage)",
    "sev2": "SEV2: a serious degradation, not yet widespread",
    "sev3": "SEV3: a minor problem, worked on in working hours",
    "sev4": "SEV4: something to look at, no harm",
}
STATUS_VERBS = {
    IncidentStatus.ACKNOWLEDGED: "Acknowledge",
    IncidentStatus.MITIGATED: "Mark mitigated",
    IncidentStatus.RESOLVED: "Mark resolved",
}
NOTICES = {
    "opened": "The incident is open: its responders are told, and its playbook is below.",
    "status": "The status is changed, and the timeline says who changed it.",
    "ticked": "The step is ticked.",
    "unticked": "The step is no longer ticked.",
    "rolled-back": "Rolled back: all the endpoint's traffic is on the previous version.",
    "noted": "The note is on the timeline.",
    "people": "The commander and responders are changed, and the timeline says who changed them.",
    "playbook": "The incident follows the chosen playbook now.",
}
REFRESH_S = 30  # static/refresh.js reloads the page's live parts this often


def _q(value: str) -> str:
    return quote(value, safe="")


def _crumbs(project: str, *rest: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [
        ("Projects", "/"),
        (project, f"/projects/{_q(project)}"),
        ("Incidents", f"/projects/{_q(project)}/incidents"),
        *rest,
    ]


def _explained(exc: TandemError | ValidationError) -> tuple[str | None, str]:
    """The form field at fault (if known) and what to tell the person."""
    if isinstance(exc, TandemError):
        return None, exc.message
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    return field, f"{field}: {first['msg']}" if field else str(first["msg"])


def duration(ms: int | float | None) -> str:
    """A span people read: 4 min, 2 h 5 min, 3 d 4 h."""
    if ms is None:
        return "—"
    minutes = int(ms // 60_000)
    if minutes < 60:
        return f"{max(minutes, 0)} min" if ms >= 60_000 else f"{int(ms // 1000)} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ref_url(project: str, ref: str | None) -> str | None:
    """The page a timeline entry points at: a gate, an endpoint, an incident, a model version."""
    if not ref:
        return None
    kind, _, rest = ref.partition("/")
    base = f"/projects/{_q(project)}"
    if kind == "gates" and rest:
        return f"{base}/gates/{_q(rest)}"
    if kind == "endpoints" and rest:
        return f"{base}/endpoints/{_q(rest)}"
    if kind == "incidents" and rest.isdigit():
        return f"{base}/incidents/{rest}"
    return None


def next_statuses(incident: Incident) -> list[dict[str, str]]:
    """The statuses the incident may move to (forward only; a step may be skipped)."""
    now = STATUS_ORDER.index(incident.status)
    return [
        {"status": s.value, "verb": STATUS_VERBS[s]}
        for s in STATUS_ORDER[now + 1 :]
        if s in STATUS_VERBS
    ]


# -- the list and the open form ----------------------------------------------------------------


def _list_context(services: Services, principal: Principal, project: str) -> dict[str, Any]:
    incidents = services.incidents.list_incidents(principal, project)
    open_first = sorted(
        incidents,
        key=lambda i: (i.status is IncidentStatus.RESOLVED, i.severity.value, -i.opened_at),
    )
    endpoints = (
        [e.name for e in services.deployments.list_endpoints(principal, project)]
        if principal.may(Action.DEPLOYMENT_READ, project)
        else []
    )
    return {
        "incidents": open_first,
        "stats": services.incidents.stats(principal, project),
        "endpoints": endpoints,
        "kinds": [p.kind for p in services.incidents.list_playbooks(principal, project)],
        "may_open": principal.may(Action.INCIDENT_WRITE, project),
    }


async def _incidents_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    found = await offload(_list_context, services, principal, project)
    context = {
        "project": project,
        **found,
        "severities": SEVERITIES,
        "duration": duration,
        "error": error,
        "crumbs": [*_crumbs(project)[:-1], ("Incidents", None)],
    }
    return render(request, "incidents.html", context, principal=principal, status=status)


@router.get("/projects/{project}/incidents", openapi_extra=policy(Action.MONITOR_READ))
async def incidents_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _incidents_page(request, services, principal, project)


@router.post("/projects/{project}/incidents", openapi_extra=policy(Action.INCIDENT_WRITE))
async def open_incident(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Open an incident by hand: a title, a severity, maybe an endpoint and a kind (which picks
    the playbook), what is known so far."""
    form = await checked_form(request, project)
    typed = {f: text(form, f, 10_000).strip()
             for f in ("title", "severity", "endpoint", "kind", "summary")}  # fmt: skip
    try:
        data = IncidentCreate(
            title=typed["title"],
            severity=IncidentSeverity(typed["severity"] or "sev2"),
            endpoint=typed["endpoint"] or None,
            kind=typed["kind"] or None,
            summary=typed["summary"],
        )
        incident = await offload(services.incidents.open, principal, project, data)
    except (TandemError, ValidationError, ValueError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        if isinstance(exc, TandemError | ValidationError):
            field, message = _explained(exc)
        else:
            field, message = "severity", "Pick a severity from the list."
        if field == "title":
            message = "Give the incident a title: what is wrong, in a few words."
        error = {"message": message, "field": field, "typed": typed}
        status = exc.status if isinstance(exc, TandemError) else 422
        return await _incidents_page(
            request, services, principal, project, error=error, status=status
        )
    return redirect(f"/projects/{_q(project)}/incidents/{incident.number}?notice=opened")


# -- one incident ------------------------------------------------------------------------------


def _incident_context(
    services: Services, principal: Principal, project: str, number: int
) -> dict[str, Any]:
    incident = services.incidents.get(principal, project, number)
    timeline = services.incidents.timeline(principal, project, number)
    endpoint = None
    may_rollback = False
    if incident.endpoint and principal.may(Action.DEPLOYMENT_READ, project):
        endpoint = services.deployments.get_endpoint(principal, project, incident.endpoint)
        may_rollback = may_change(principal, project, endpoint.production) and (
            endpoint.rollback_target is not None or endpoint.rollout is not None
        )
    may_respond = principal.may(Action.INCIDENT_WRITE, project)
    return {
        "incident": incident,
        "members": (
            sorted(m.user for m in services.identity.list_members(principal, project))
            if may_respond
            else []
        ),
        "playbooks": (
            [p.kind for p in services.incidents.list_playbooks(principal, project)]
            if may_respond
            else []
        ),
        "refresh_s": REFRESH_S,
        "timeline": sorted(timeline, key=lambda t: -t.at),
        "endpoint": endpoint,
        "may_rollback": may_rollback,
        "may_respond": may_respond,
        "next_statuses": next_statuses(incident),
    }


async def _incident_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    number: int,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    found = await offload(_incident_context, services, principal, project, number)
    context = {
        "project": project,
        **found,
        "duration": duration,
        "ref_url": ref_url,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": _crumbs(project, (f"Incident {number}", None)),
    }
    return render(request, "incident.html", context, principal=principal, status=status)


@router.get("/projects/{project}/incidents/{number}", openapi_extra=policy(Action.MONITOR_READ))
async def incident_page(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _incident_page(request, services, principal, project, number)


async def _act(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    number: int,
    form_name: str,
    call: Any,
    notice: str,
) -> Response:
    """Run one incident change; a refusal the person can fix goes back to the page beside the
    form it came from."""
    try:
        await offload(call)
    except (TandemError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        if isinstance(exc, TandemError | ValidationError):
            _field, message = _explained(exc)
        else:
            message = "That choice is not one of the form's: reload the page and try again."
        return await _incident_page(
            request, services, principal, project, number,
            error={"form": form_name, "message": message},
            status=exc.status if isinstance(exc, TandemError) else 422,
        )  # fmt: skip
    anchor = {"status": "#status-h", "ticked": "#playbook-h", "unticked": "#playbook-h",
              "noted": "#timeline-h", "people": "#people-h",
              "playbook": "#playbook-h"}.get(notice, "")  # fmt: skip
    return redirect(f"/projects/{_q(project)}/incidents/{number}?notice={notice}{anchor}")


@router.post(
    "/projects/{project}/incidents/{number}/status", openapi_extra=policy(Action.INCIDENT_WRITE)
)
async def change_status(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)

    def call() -> Any:
        change = StatusChange(status=IncidentStatus(text(form, "status", 20)),
                              message=text(form, "message", 2000).strip())  # fmt: skip
        return services.incidents.set_status(principal, project, number, change)

    return await _act(request, services, principal, project, number, "status", call, "status")


@router.post(
    "/projects/{project}/incidents/{number}/steps/{step}",
    openapi_extra=policy(Action.INCIDENT_WRITE),
)
async def tick_step(
    request: Request,
    project: str,
    number: int,
    step: int,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Tick a playbook step (or untick it: `done=false`)."""
    form = await checked_form(request, project)
    done = text(form, "done", 5) != "false"

    def call() -> Any:
        return services.incidents.tick(principal, project, number,
                                       TickRequest(step=step, done=done))  # fmt: skip

    notice = "ticked" if done else "unticked"
    return await _act(request, services, principal, project, number, f"step-{step}", call, notice)


@router.post(
    "/projects/{project}/incidents/{number}/rollback",
    openapi_extra=policy(Action.DEPLOYMENT_WRITE),  # production endpoints: deployment:release
)
async def rollback(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Roll the incident's endpoint back, as the person (the deployments service decides)."""
    form = await checked_form(request, project)

    def call() -> Any:
        data = RollbackRequest(message=text(form, "message", 2000).strip())
        return services.incidents.rollback(principal, project, number, data)

    return await _act(
        request, services, principal, project, number, "rollback", call, "rolled-back"
    )


@router.post(
    "/projects/{project}/incidents/{number}/notes", openapi_extra=policy(Action.INCIDENT_WRITE)
)
async def add_note(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)

    def call() -> Any:
        note = NoteCreate(body=text(form, "body", 20_000).strip())
        return services.incidents.add_note(principal, project, number, note)

    return await _act(request, services, principal, project, number, "note", call, "noted")


@router.post(
    "/projects/{project}/incidents/{number}/people", openapi_extra=policy(Action.INCIDENT_WRITE)
)
async def set_people(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Name the commander (or nobody) and tick the responders; the members unticked stop
    responding."""
    form = await checked_form(request, project)
    # "" (the "nobody" choice) clears the commander; a form without the field leaves it be
    commander = text(form, "commander", 200).strip() if "commander" in form else None
    wanted = [v for v in form.getlist("responders") if isinstance(v, str) and v.strip()]

    def call() -> Any:
        current = services.incidents.get(principal, project, number).responders
        patch = IncidentPatch(
            commander=commander,
            add_responders=[r for r in wanted if r not in current],
            remove_responders=[r for r in current if r not in wanted],
        )
        return services.incidents.update(principal, project, number, patch)

    return await _act(request, services, principal, project, number, "people", call, "people")


@router.post(
    "/projects/{project}/incidents/{number}/playbook",
    openapi_extra=policy(Action.INCIDENT_WRITE),
)
async def choose_playbook(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Follow another of the project's playbooks (while no step is ticked)."""
    form = await checked_form(request, project)
    kind = text(form, "playbook", 200).strip()

    def call() -> Any:
        if not kind:
            raise InvalidInput("Pick a playbook from the list.")
        return services.incidents.update(principal, project, number,
                                         IncidentPatch(playbook=kind))  # fmt: skip

    return await _act(request, services, principal, project, number, "playbook", call,
                      "playbook")  # fmt: skip
