"""Endpoint pages: a project's endpoints, and one endpoint with its split, its rollout's
progress and guard values, request/error/latency charts per version, the shadow comparison, the
history as a timeline, what served at a given moment, and the promote / pause / resume /
rollback forms.

The forms post to the same service as the REST API: it decides who may change which endpoint
(production endpoints need `deployment:release`) and refuses a change made on a stale page (the
form carries the policy version the page showed). The page only hides buttons a role may not
press."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms, parse_instant
from tandem.core.validation import parse_whole_number
from tandem.deployments.models import TrafficChange
from tandem.errors import InvalidInput, TandemError
from tandem.governance.gates.models import GateStatus
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.web import servingviews
from tandem.web.access import is_user_mistake
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

HISTORY_ON_PAGE = 50
LIVE_EVERY_S = 10  # how often the page refreshes its charts (static/endpoint.js); ?every=N
MESSAGE_LIMIT = 2000
CHANGES = {"promote": "promoted", "pause": "paused", "resume": "resumed", "rollback": "rolled-back"}
NOTICES = {
    "promoted": "Promoted: the new split is below, and the change is in the history.",
    "paused": "Paused: the weights stay where they are until someone resumes.",
    "resumed": "Resumed: the analysis moves the weights again.",
    "rolled-back": "Rolled back: all traffic is on the previous version.",
}


def _q(value: str) -> str:
    return quote(value, safe="")


def _crumbs(project: str, *rest: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [
        ("Projects", "/"),
        (project, f"/projects/{_q(project)}"),
        ("Endpoints", f"/projects/{_q(project)}/endpoints"),
        *rest,
    ]


def may_change(principal: Principal, project: str, production: bool) -> bool:
    """Whether to show the traffic buttons: production endpoints need the release action."""
    action = Action.DEPLOYMENT_RELEASE if production else Action.DEPLOYMENT_WRITE
    return principal.may(action, project)


@router.get("/projects/{project}/endpoints", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def endpoints_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    endpoints = await offload(services.deployments.list_endpoints, principal, project)
    context = {
        "project": project,
        "endpoints": [{"e": e, "split": servingviews.split(e.deployments)} for e in endpoints],
        "crumbs": [*_crumbs(project)[:-1], ("Endpoints", None)],
    }
    return render(request, "endpoints.html", context, principal=principal)


def _endpoint_context(
    services: Services, principal: Principal, project: str, name: str, window: str, at: str
) -> dict[str, Any]:
    deployments = services.deployments
    endpoint = deployments.get_endpoint(principal, project, name)
    span_s, bucket_s = servingviews.WINDOWS[window]
    until = now_ms()
    points = deployments.windows(
        principal, project, name, since=until - span_s * 1000, until=until, bucket_s=bucket_s
    )
    history = deployments.history(principal, project, name, limit=HISTORY_ON_PAGE)
    served = None
    at_error = None
    if at.strip():
        try:
            served = deployments.served_at(principal, project, name, parse_instant(at))
        except InvalidInput as exc:
            at_error = exc.message
    passed = (
        services.gates.list_gates(principal, project, status=GateStatus.PASSED)
        if principal.may(Action.MODEL_READ, project)
        else []
    )
    charts = servingviews.charts(points, bucket_s)
    segments = servingviews.split(endpoint.deployments)
    return {
        "endpoint": endpoint,
        "split": segments,
        "swatches": servingviews.swatches(segments),
        "guards": servingviews.guard_rows(endpoint.rollout),
        "steps": servingviews.rollout_steps(endpoint.rollout),
        "shadow": servingviews.shadow_view(endpoint, points),
        "charts": charts,
        "totals": servingviews.totals(points),
        "buckets": servingviews.bucket_rows(points),
        "bucket_s": bucket_s,
        "timeline": servingviews.timeline(project, history.items, passed),
        "more_history": history.next_cursor is not None,
        "served": served,
        "served_after": servingviews.timeline(project, [served.event], passed)[0]
        if served is not None and served.event is not None
        else None,
        "at": at,
        "at_error": at_error,
        "actions": servingviews.actions(endpoint)
        if may_change(principal, project, endpoint.production)
        else [],
    }


async def _endpoint_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    name: str,
    *,
    window: str = "1h",
    at: str = "",
    every: int = LIVE_EVERY_S,
    error: str | None = None,
    status: int = 200,
) -> Response:
    if window not in servingviews.WINDOWS:
        window = "1h"
    span_s, bucket_s = servingviews.WINDOWS[window]
    api = f"/api/v1/projects/{_q(project)}/endpoints/{_q(name)}/windows"
    found = await offload(_endpoint_context, services, principal, project, name, window, at[:64])
    context = {
        "project": project,
        **found,
        "window": window,
        "windows": list(servingviews.WINDOWS),
        "live": {
            "url": api,
            "span_s": span_s,
            "bucket_s": bucket_s,
            "every_s": min(max(every, 1), 600),
        },
        "version_url": servingviews.version_url,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": _crumbs(project, (name, None)),
    }
    return render(request, "endpoint.html", context, principal=principal, status=status)


@router.get("/projects/{project}/endpoints/{name}", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def endpoint_page(
    request: Request,
    project: str,
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    window: str = "1h",
    at: str = "",
    every: str = "",
) -> Response:
    seconds = parse_whole_number(every[:6]) or LIVE_EVERY_S
    return await _endpoint_page(
        request, services, principal, project, name, window=window, at=at, every=seconds
    )


@router.post(
    "/projects/{project}/endpoints/{name}/{change}",
    openapi_extra=policy(Action.DEPLOYMENT_WRITE),  # production endpoints: deployment:release
)
async def change_traffic(
    request: Request,
    project: str,
    name: str,
    change: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Promote, pause, resume or roll back, from the confirmation form of the endpoint page."""
    form = await checked_form(request, project)
    if change not in CHANGES:
        from tandem.errors import NotFound

        raise NotFound(f"no such change {change!r}: promote, pause, resume or rollback")
    try:
        expected = parse_whole_number(text(form, "expected_policy_version", 20))
        data = TrafficChange(
            message=text(form, "message", MESSAGE_LIMIT).strip(),
            expected_policy_version=expected,
        )
        act = getattr(services.deployments, change)
        await offload(act, principal, project, name, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _endpoint_page(
            request, services, principal, project, name, error=exc.message, status=exc.status
        )
    return redirect(f"/projects/{_q(project)}/endpoints/{_q(name)}?notice={CHANGES[change]}")
