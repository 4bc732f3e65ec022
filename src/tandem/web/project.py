"""The project page, the one screen a product manager opens: the brief, the success criteria,
the scorecard of each candidate and production model version, and the RACI. Plus the brief's
history (every version as a diff with its author) and the form that saves a new version.

Every figure comes from the services with the caller's principal; the page decides nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal, Role
from tandem.core.validation import parse_whole_number
from tandem.errors import TandemError
from tandem.governance.plan.models import (
    BRIEF_FIELDS,
    BriefStatus,
    BriefUpdate,
    CriterionKind,
    criterion_summary,
    parse_assignments,
)
from tandem.governance.plan.spec import CriterionSpec, brief_changes
from tandem.governance.registers.models import ActionStatus, CommentCreate
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import ACTION_OWNER, policy
from tandem.incidents.models import IncidentStatus
from tandem.web.access import is_user_mistake
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, safe_next, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

BRIEF_FIELD_LIMIT = 100_000
POSTMORTEM_SOURCE = "postmortems/"  # the registers' source of a postmortem's action items
NOTICES = {
    "saved": "Saved a new version of the brief.",
    "unchanged": "The brief is unchanged.",
    "action-done": "The action item is done.",
    "criterion-saved": "The criterion is saved.",
    "criterion-deleted": "The criterion is deleted.",
    "raci-saved": "The RACI is saved.",
}


def _q(value: str) -> str:
    return quote(value, safe="")


def _overview(services: Services, principal: Principal, project: str) -> dict[str, Any]:
    governance = services.plan
    return {
        "brief": governance.get_brief(principal, project),
        "criteria": governance.list_criteria(principal, project),
        "raci": governance.get_raci(principal, project),
        "scorecards": (
            governance.candidate_scorecards(principal, project)
            if principal.may(Action.MODEL_READ, project)
            else []
        ),
        "gates": (
            services.gates.list_gates(principal, project)
            if principal.may(Action.MODEL_READ, project)
            else []
        ),
        "decisions": services.decisions.list_decisions(principal, project)[:5],
        "risks": services.registers.list_risks(principal, project, open_only=True),
        "actions": services.registers.list_actions(principal, project),
        "hypotheses": services.registers.list_hypotheses(principal, project)[:10],
        "activity": services.audit.activity(principal, project, limit=12).items,
        "serving": services.deployments.serving(principal, project),
        "incidents": (
            [
                i
                for i in services.incidents.list_incidents(principal, project)
                if i.status is not IncidentStatus.RESOLVED
            ]
            if principal.may(Action.MONITOR_READ, project)
            else []
        ),
    }


def first_things(found: dict[str, Any]) -> dict[str, Any]:
    """What the page shows before anything else: the open incidents (worst first) and the
    postmortems' action items past their due date."""
    overdue = [a for a in found["actions"] if a.overdue and a.source.startswith(POSTMORTEM_SOURCE)]
    return {
        "open_incidents": sorted(found["incidents"], key=lambda i: (i.severity.value, i.opened_at)),
        "overdue_postmortem_actions": sorted(overdue, key=lambda a: (a.due, a.number)),
    }


def postmortem_url(project: str, source: str) -> str | None:
    """The postmortem page an action item came from (`postmortems/3`: incident 3's)."""
    number = source.removeprefix(POSTMORTEM_SOURCE)
    if not source.startswith(POSTMORTEM_SOURCE) or not number.isdigit():
        return None
    return f"/projects/{_q(project)}/incidents/{number}/postmortem"


async def _project_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    *,
    error: str | None = None,
    draft: dict[str, str] | None = None,
    status: int = 200,
    section: str = "brief",
) -> Response:
    found = await offload(_overview, services, principal, project)
    brief = found["brief"]
    members = sorted({m for row in found["raci"].activities.values() for m in row})
    context = {
        "project": project,
        **found,
        **first_things(found),
        "postmortem_url": postmortem_url,
        "members": members,
        "fields": BRIEF_FIELDS,
        "statuses": [s.value for s in BriefStatus],
        "summary": criterion_summary,
        "may_edit": principal.may(Action.PLAN_WRITE, project),
        "me": principal.name,
        "draft": draft
        or {
            **{f: getattr(brief, f) for f in BRIEF_FIELDS},
            "status": brief.status.value,
        },
        "error": error,
        "error_section": section,
        "may_raci": principal.may(Action.RACI_WRITE, project),
        "kinds": [k.value for k in CriterionKind],
        "roles": [r.value for r in Role],
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": [("Projects", "/"), (project, None)],
    }
    return render(request, "project.html", context, principal=principal, status=status)


@router.get("/projects/{project}", openapi_extra=policy(Action.PROJECT_READ))
async def project_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _project_page(request, services, principal, project)


@router.post("/projects/{project}/brief", openapi_extra=policy(Action.PLAN_WRITE))
async def save_brief(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Save the edited brief as a new version; refused if someone saved one since the form
    was loaded (its `base_version`), so nobody overwrites another's edit unseen."""
    form = await checked_form(request, project)
    draft = {f: text(form, f, BRIEF_FIELD_LIMIT) for f in [*BRIEF_FIELDS, "status"]}
    base = text(form, "base_version", 20)
    try:
        update = BriefUpdate.model_validate(
            {
                **{k: v for k, v in draft.items() if v or k != "status"},
                "base_version": parse_whole_number(base),
            }
        )
        before = await offload(services.plan.get_brief, principal, project)
        saved = await offload(services.plan.set_brief, principal, project, update)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _project_page(
            request,
            services,
            principal,
            project,
            error=exc.message,
            draft=draft,
            status=exc.status,
        )
    except ValueError as exc:  # pydantic: a status that is not one of the three
        message = f"not saved: {exc.errors()[0]['msg']}" if hasattr(exc, "errors") else str(exc)
        return await _project_page(
            request, services, principal, project, error=message, draft=draft, status=422
        )
    notice = "saved" if saved.version != before.version else "unchanged"
    return redirect(f"/projects/{_q(project)}?notice={notice}#brief")


@router.post("/projects/{project}/actions/{number}/done", openapi_extra=policy(ACTION_OWNER))
async def close_action(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Mark an action item done (its owner, or anyone who may edit the plan)."""
    await checked_form(request, project)
    await offload(
        services.registers.set_action_status, principal, project, number, ActionStatus.DONE
    )
    return redirect(f"/projects/{_q(project)}?notice=action-done#actions")


@router.post("/projects/{project}/comments", openapi_extra=policy(Action.PLAN_WRITE))
async def add_comment(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A comment from an entity's page; back to that page (a local path only)."""
    form = await checked_form(request, project)
    back = safe_next(text(form, "back", 1000)) or f"/projects/{_q(project)}"
    body = text(form, "body", 20_000)
    if not body.strip():
        return redirect(f"{back}#comments")  # nothing to say
    data = CommentCreate(target=text(form, "target", 500), body=body)
    try:
        await offload(services.registers.add_comment, principal, project, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return redirect(f"{back}?error=comment#comments")
    return redirect(f"{back}#comments")


@router.post("/projects/{project}/criteria", openapi_extra=policy(Action.PLAN_WRITE))
async def set_criterion(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Add a success criterion or change one (the same record `tandem criteria set` writes)."""
    form = await checked_form(request, project)
    fields = {
        f: text(form, f, 10_000).strip()
        for f in ("key", "kind", "check", "dataset", "slice", "owner", "description")
    }
    try:
        spec = CriterionSpec.model_validate(
            {
                k: v
                for k, v in fields.items()
                if k != "key" and (v or k in ("kind", "check", "owner"))
            }
        )
        await offload(services.plan.put_criterion, principal, project, fields["key"], spec.to_set())
    except (TandemError, ValueError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        message = exc.message if isinstance(exc, TandemError) else _first_error(exc)
        return await _project_page(
            request, services, principal, project, error=message, status=422, section="criteria"
        )
    return redirect(f"/projects/{_q(project)}?notice=criterion-saved#criteria-h")


@router.post("/projects/{project}/criteria/{key}/delete", openapi_extra=policy(Action.PLAN_WRITE))
async def delete_criterion(
    request: Request, project: str, key: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await checked_form(request, project)
    await offload(services.plan.delete_criterion, principal, project, key)
    return redirect(f"/projects/{_q(project)}?notice=criterion-deleted#criteria-h")


@router.post("/projects/{project}/raci", openapi_extra=policy(Action.RACI_WRITE))
async def set_raci_row(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Set one activity's row ("maria=A ana=R"); an empty row removes the activity."""
    form = await checked_form(request, project)
    activity = text(form, "activity", 100).strip()
    try:
        row = parse_assignments(text(form, "assignments", 2000).split())
        await offload(services.plan.set_raci_activity, principal, project, activity, row)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _project_page(
            request,
            services,
            principal,
            project,
            error=exc.message,
            status=exc.status,
            section="raci",
        )
    return redirect(f"/projects/{_q(project)}?notice=raci-saved#raci-h")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


@router.get("/projects/{project}/brief", openapi_extra=policy(Action.PROJECT_READ))
async def brief_history(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Every version of the brief, newest first, each as a diff against the one before."""
    versions = await offload(services.plan.brief_history, principal, project)
    entries = []
    for i, newer in enumerate(versions):
        base = versions[i + 1] if i + 1 < len(versions) else BriefUpdate()
        entries.append({"brief": newer, "changes": brief_changes(base, newer)})
    context = {
        "project": project,
        "entries": entries,
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{_q(project)}"),
            ("Brief history", None),
        ],
    }
    return render(request, "brief_history.html", context, principal=principal)
