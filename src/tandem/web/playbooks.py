"""The project's playbooks page: each kind of incident's runbook with its steps; for the roles
that respond (`incident:write`), a form to write one or replace it in Markdown (a checkbox line
per step), a preview of the steps as the service reads them, and a delete behind a confirmation.

The incidents service parses, checks and saves (the same `set_playbook_markdown` as
`tandem incidents playbook set` and `PUT /playbooks/{kind}`); a refusal comes back beside the
form with what was typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.errors import InvalidInput, TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.incidents.models import PlaybookSet
from tandem.incidents.service import to_markdown
from tandem.web.access import is_user_mistake
from tandem.web.deps import Services, ServicesDep
from tandem.web.forms import checked_form, require_confirmation, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

NOTICES = {
    "saved": "The playbook is saved: incidents of its kind opened from now on follow it.",
    "deleted": "The playbook is deleted; incidents that follow it keep their steps.",
}
EXAMPLE = """# Drift on a production endpoint

- [ ] (commander) Page the data owner
- [ ] Compare the live inputs with the training data
- [ ] Roll back the endpoint if the scores are wrong
"""
KIND_HELP = "Name the kind in lowercase letters, digits, - and _, e.g. drift or latency."


def _q(value: str) -> str:
    return quote(value, safe="")


def _context(services: Services, principal: Principal, project: str, kind: str) -> dict[str, Any]:
    playbooks = services.incidents.list_playbooks(principal, project)
    chosen = next((p for p in playbooks if p.kind == kind), None)
    return {
        "playbooks": playbooks,
        "may_write": principal.may(Action.INCIDENT_WRITE, project),
        "typed": {"kind": chosen.kind, "markdown": to_markdown(chosen)} if chosen else None,
    }


async def _page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    *,
    typed: dict[str, str] | None = None,
    preview: PlaybookSet | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    kind = request.query_params.get("kind", "")[:64]
    found = await offload(_context, services, principal, project, kind)
    chosen = found.pop("typed")
    typed = typed or chosen or {"kind": "", "markdown": ""}
    context = {
        "project": project,
        **found,
        "typed": typed,
        "editing": any(p.kind == typed["kind"] for p in found["playbooks"]),
        "preview": preview,
        "example": EXAMPLE,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{_q(project)}"),
            ("Incidents", f"/projects/{_q(project)}/incidents"),
            ("Playbooks", None),
        ],
    }
    return render(request, "playbooks.html", context, principal=principal, status=status)


@router.get("/projects/{project}/playbooks", openapi_extra=policy(Action.MONITOR_READ))
async def playbooks_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """The playbooks; `?kind=` puts that one's Markdown in the form to edit."""
    return await _page(request, services, principal, project)


@router.post("/projects/{project}/playbooks", openapi_extra=policy(Action.INCIDENT_WRITE))
async def write_playbook(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Preview (`action=preview`) or save the Markdown as the playbook for its kind, replacing
    the one before it."""
    form = await checked_form(request, project)
    typed = {"kind": text(form, "kind", 200).strip(), "markdown": text(form, "markdown", 200_001)}
    previewing = text(form, "action", 10) == "preview"
    incidents = services.incidents
    try:
        if not typed["kind"]:
            raise InvalidInput(KIND_HELP)
        if previewing:
            preview = await offload(incidents.preview_playbook_markdown, principal, project,
                                    typed["kind"], typed["markdown"])  # fmt: skip
            return await _page(request, services, principal, project, typed=typed,
                               preview=preview)  # fmt: skip
        await offload(incidents.set_playbook_markdown, principal, project, typed["kind"],
                      typed["markdown"])  # fmt: skip
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        at_kind = exc.message == KIND_HELP or exc.message.startswith("playbook: kind")
        error = {
            "form": "write",
            "field": "kind" if at_kind else "markdown",
            "message": KIND_HELP if at_kind else exc.message,
        }
        return await _page(request, services, principal, project, typed=typed, error=error,
                           status=exc.status)  # fmt: skip
    return redirect(f"/projects/{_q(project)}/playbooks?notice=saved#playbooks-h")


@router.post(
    "/projects/{project}/playbooks/{kind}/delete", openapi_extra=policy(Action.INCIDENT_WRITE)
)
async def delete_playbook(
    request: Request, project: str, kind: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Delete a playbook, once the person ticked the confirmation."""
    form = await checked_form(request, project)
    try:
        require_confirmation(form, f"Tick the box to confirm that the playbook {kind} goes.")
        await offload(services.incidents.delete_playbook, principal, project, kind)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        error = {"form": f"delete-{kind}", "message": exc.message}
        return await _page(request, services, principal, project, error=error,
                           status=exc.status)  # fmt: skip
    return redirect(f"/projects/{_q(project)}/playbooks?notice=deleted#playbooks-h")
