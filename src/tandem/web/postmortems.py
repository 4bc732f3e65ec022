"""The postmortem page of a resolved incident: the blameless template as a form anyone who responds
can fill in (summary, impact, five whys, trigger, detection, resolution, what went well, wrong
and lucky, action items with a kind, an owner and a due date, the review checklist), the
pre-filled timeline and impact, names flagged in the root causes, and the buttons that move it
draft → in review → published.

The incidents service decides everything: who may edit, that publishing needs the RACI's
Accountable for incident-response, what counts as naming a person. The page shows its refusals
beside the form with what was typed, and hides the publish button from those it would refuse."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.errors import NotFound, TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.incidents.models import (
    REVIEW_CHECKLIST,
    ActionKind,
    PostmortemAction,
    PostmortemEdit,
    PostmortemStatus,
)
from tandem.web.access import is_user_mistake
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

INCIDENT_RESPONSE = "incident-response"  # the RACI activity whose Accountable publishes
WHYS = 5
EMPTY_ACTION_ROWS = 2
MAX_ACTION_ROWS = 20
LIST_SECTIONS = ("went_well", "went_wrong", "got_lucky")
TEXT_SECTIONS = ("summary", "impact_notes", "trigger", "detection", "resolution")
HEADINGS = {
    "summary": "Summary: what happened, in a few sentences",
    "impact_notes": "Impact: who or what was affected, and how much",
    "trigger": "Trigger: the change or event that set it off",
    "detection": "Detection: how we found out, and how long it took",
    "resolution": "Resolution: what brought things back",
    "went_well": "What went well",
    "went_wrong": "What went wrong",
    "got_lucky": "Where we got lucky",
}
KIND_HELP = {
    "mitigate": "mitigate: lessen the harm if it happens again",
    "prevent": "prevent: stop it from happening again",
    "process": "process: change how we work",
}
NOTICES = {
    "saved": "The draft is saved.",
    "submitted": "Submitted for review: the Accountable for incident response is asked to publish.",
    "published": "Published: the action items are on their owners' pages until done.",
}


def _q(value: str) -> str:
    return quote(value, safe="")


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def draft_of(form: FormData) -> dict[str, Any]:
    """What the person typed, as the form shows it again."""
    actions = []
    for n in range(MAX_ACTION_ROWS):
        row = {f: text(form, f"action-{n}-{f}", 1000).strip()
               for f in ("title", "kind", "owner", "due", "number")}  # fmt: skip
        if row["title"] or row["owner"] or row["due"]:
            actions.append(row)
    return {
        **{f: text(form, f, 20_000) for f in TEXT_SECTIONS},
        **{f: text(form, f, 20_000) for f in LIST_SECTIONS},
        "whys": [text(form, f"why-{n}", 10_000).strip() for n in range(1, WHYS + 1)],
        "actions": actions,
        "confirm": [c for c in REVIEW_CHECKLIST if text(form, f"confirm-{_slug(c)}", 5) == "yes"],
    }


def _slug(item: str) -> str:
    return "-".join(item.split()[:4])


def edit_of(draft: dict[str, Any]) -> PostmortemEdit:
    """The edit the form asks for (ValidationError naming the field at fault)."""
    actions = []
    for n, row in enumerate(draft["actions"]):
        try:
            due = dt.date.fromisoformat(row["due"]) if row["due"] else None
        except ValueError:
            message = (
                f"Action item {n + 1}: the due date {row['due']!r} is not a date like 2026-12-31."
            )
            raise _FieldError(f"action-{n}-due", message) from None
        if due is None:
            raise _FieldError(f"action-{n}-due", f"Action item {n + 1} needs a due date.")
        actions.append(
            PostmortemAction(
                title=row["title"],
                kind=ActionKind(row["kind"] or "prevent"),
                owner=row["owner"],
                due=due,
                number=int(row["number"]) if row["number"].isdigit() else None,
            )
        )
    return PostmortemEdit(
        **{f: draft[f] for f in TEXT_SECTIONS},
        **{f: _lines(draft[f]) for f in LIST_SECTIONS},
        five_whys=[w for w in draft["whys"] if w],
        action_items=actions,
        confirm=draft["confirm"],
    )


class _FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def draft_from(postmortem: Any) -> dict[str, Any]:
    """The form's values from the stored postmortem."""
    whys = list(postmortem.five_whys) + [""] * WHYS
    return {
        **{f: getattr(postmortem, f) for f in TEXT_SECTIONS},
        **{f: "\n".join(getattr(postmortem, f)) for f in LIST_SECTIONS},
        "whys": whys[:WHYS],
        "actions": [
            {
                "title": a.title,
                "kind": a.kind.value,
                "owner": a.owner,
                "due": a.due.isoformat(),
                "number": str(a.number or ""),
            }
            for a in postmortem.action_items
        ],
        "confirm": [item for item, done in postmortem.checklist.items() if done],
    }


def _context(services: Services, principal: Principal, project: str, number: int) -> dict[str, Any]:
    incident = services.incidents.get(principal, project, number)
    try:
        postmortem = services.incidents.get_postmortem(principal, project, number)
    except NotFound:
        postmortem = None
    raci = services.plan.get_raci(principal, project)
    members = sorted(m.user for m in services.identity.list_members(principal, project))
    accountable = raci.with_letter(INCIDENT_RESPONSE, "A")
    return {
        "incident": incident,
        "postmortem": postmortem,
        "members": members,
        "accountable": ", ".join(accountable),
        "may_edit": principal.may(Action.INCIDENT_WRITE, project),
        "may_publish": principal.name in accountable,
    }


async def _page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    number: int,
    *,
    draft: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    found = await offload(_context, services, principal, project, number)
    postmortem = found["postmortem"]
    if draft is None:
        draft = draft_from(postmortem) if postmortem is not None else None
    context = {
        "project": project,
        **found,
        "draft": draft,
        "empty_rows": EMPTY_ACTION_ROWS,
        "whys": WHYS,
        "headings": HEADINGS,
        "text_sections": TEXT_SECTIONS,
        "list_sections": LIST_SECTIONS,
        "kinds": KIND_HELP,
        "checklist": REVIEW_CHECKLIST,
        "slug": _slug,
        "statuses": [s.value for s in PostmortemStatus],
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{_q(project)}"),
            ("Incidents", f"/projects/{_q(project)}/incidents"),
            (f"Incident {number}", f"/projects/{_q(project)}/incidents/{number}"),
            ("Postmortem", None),
        ],
    }
    return render(request, "postmortem.html", context, principal=principal, status=status)


def _base(project: str, number: int) -> str:
    return f"/projects/{_q(project)}/incidents/{number}/postmortem"


@router.get(
    "/projects/{project}/incidents/{number}/postmortem", openapi_extra=policy(Action.MONITOR_READ)
)
async def postmortem_page(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _page(request, services, principal, project, number)


@router.post(
    "/projects/{project}/incidents/{number}/postmortem",
    openapi_extra=policy(Action.INCIDENT_WRITE),
)
async def save_postmortem(
    request: Request, project: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Start the postmortem (the draft, its timeline and impact pre-filled), or save the form
    (and, with `then=submit`, submit it for review: a draft saved but refused for review stays
    saved, and the page says why)."""
    form = await checked_form(request, project)
    if text(form, "start", 5) == "yes":
        try:
            await offload(services.incidents.start_postmortem, principal, project, number)
        except TandemError as exc:
            if not is_user_mistake(exc):
                raise
            return await _page(request, services, principal, project, number,
                               error={"form": "start", "message": exc.message},
                               status=exc.status)  # fmt: skip
        return redirect(f"{_base(project, number)}#edit-h")
    draft = draft_of(form)
    submit = text(form, "then", 10) == "submit"
    try:
        edit = edit_of(draft)
        await offload(services.incidents.edit_postmortem, principal, project, number, edit)
        if submit:
            await offload(services.incidents.submit_postmortem, principal, project, number)
    except (TandemError, ValidationError, ValueError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        field: str | None = None
        if isinstance(exc, _FieldError):
            field, message = exc.field, exc.message
        elif isinstance(exc, TandemError):
            message = exc.message
        elif isinstance(exc, ValidationError):
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = f"{field}: {first['msg']}"
        else:
            message = str(exc)
        status = exc.status if isinstance(exc, TandemError) else 422
        return await _page(request, services, principal, project, number, draft=draft,
                           error={"form": "edit", "message": message, "field": field},
                           status=status)  # fmt: skip
    return redirect(f"{_base(project, number)}?notice={'submitted' if submit else 'saved'}")


@router.post(
    "/projects/{project}/incidents/{number}/postmortem/{step}",
    openapi_extra=policy(Action.INCIDENT_WRITE),  # publishing: the RACI's Accountable
)
async def move_postmortem(
    request: Request,
    project: str,
    number: int,
    step: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Submit the draft for review, or publish it."""
    await checked_form(request, project)
    calls = {"submit": services.incidents.submit_postmortem,
             "publish": services.incidents.publish_postmortem}  # fmt: skip
    if step not in calls:
        raise NotFound(f"no such step {step!r}: submit or publish")
    try:
        await offload(calls[step], principal, project, number)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _page(request, services, principal, project, number,
                           error={"form": step, "message": exc.message},
                           status=exc.status)  # fmt: skip
    notice = "submitted" if step == "submit" else "published"
    return redirect(f"{_base(project, number)}?notice={notice}")
