"""The monitoring page's forms: create a monitor on the endpoint (the kinds, windows, params and
conditions `tandem monitors create` takes) and delete one after a confirmation.

The monitoring service checks who may (`monitor:write`) and whether the monitor fits its kind
and the model; a refusal comes back beside the form with what was typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from tandem.core.auth import Action
from tandem.errors import TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.monitoring.models import MonitorSpec, params_from_pairs
from tandem.web.access import is_user_mistake
from tandem.web.deps import ServicesDep
from tandem.web.forms import checked_form, require_confirmation, text
from tandem.web.monitoring import render_page
from tandem.web.render import redirect

router = APIRouter(include_in_schema=False)

FIELDS = ("name", "kind", "window", "version", "params", "condition", "for", "severity",
          "runbook", "owner")  # fmt: skip
FIELD_HELP = {
    "name": "Name the monitor: lowercase letters, digits and dashes, e.g. prod-latency.",
    "kind": "Pick what the monitor watches from the list.",
    "window": "Write the window as a number and a unit, e.g. 1h, 30m or 1d.",
    "severity": "Pick page, ticket or info.",
}


def _q(value: str) -> str:
    return quote(value, safe="")


def _explained(exc: TandemError | ValidationError) -> tuple[str | None, str]:
    """The form field at fault (if known) and what to tell the person."""
    if isinstance(exc, TandemError):
        field = exc.details.get("field") if isinstance(exc.details, dict) else None
        if not isinstance(field, str):  # the service's message names the field first
            field = next((f for f in FIELDS if exc.message.startswith(f"{f} ")), None)
        return field, exc.message
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    if field == "for_":
        field = "for"
    return field, FIELD_HELP.get(field or "", f"{field}: {first['msg']}")


@router.post(
    "/projects/{project}/endpoints/{name}/monitors", openapi_extra=policy(Action.MONITOR_WRITE)
)
async def create_monitor(
    request: Request, project: str, name: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A monitor on this endpoint; empty fields take the kind's defaults."""
    form = await checked_form(request, project)
    typed = {f: text(form, f, 4000).strip() for f in FIELDS}
    try:
        lines = [line.strip() for line in typed["params"].splitlines() if line.strip()]
        fields: dict[str, Any] = {
            "name": typed["name"],
            "endpoint": name,
            "kind": typed["kind"],
            "window": typed["window"] or "1h",
            "params": params_from_pairs(lines),
            "severity": typed["severity"] or "ticket",
        }
        for optional in ("version", "condition", "for", "runbook", "owner"):
            if typed[optional]:
                fields[optional] = typed[optional]
        spec = MonitorSpec.model_validate(fields)
        await offload(services.monitoring.create, principal, project, spec)
    except (TandemError, ValidationError) as exc:
        if isinstance(exc, TandemError) and not is_user_mistake(exc):
            raise
        at_fault, message = _explained(exc)
        error = {"form": "create", "message": message, "field": at_fault, "typed": typed}
        status = exc.status if isinstance(exc, TandemError) else 422
        return await render_page(request, services, principal, project, name, error=error,
                                 status=status)  # fmt: skip
    return _back(project, name, "created")


@router.post(
    "/projects/{project}/endpoints/{name}/monitors/{monitor}/delete",
    openapi_extra=policy(Action.MONITOR_WRITE),
)
async def delete_monitor(
    request: Request,
    project: str,
    name: str,
    monitor: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a monitor with its results, once the person ticked the confirmation."""
    form = await checked_form(request, project)
    try:
        require_confirmation(form, f"Tick the box to confirm that {monitor} and its results go.")
        await offload(services.monitoring.delete, principal, project, monitor)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        error = {"form": f"delete-{monitor}", "message": exc.message}
        return await render_page(request, services, principal, project, name, error=error,
                                 status=exc.status)  # fmt: skip
    return _back(project, name, "deleted")


def _back(project: str, name: str, notice: str) -> Response:
    return redirect(
        f"/projects/{_q(project)}/endpoints/{_q(name)}/monitoring?notice={notice}#monitors-h"
    )
