"""Form posts: the CSRF check every one of them passes first.

A browser sends the session cookie with cross-site posts too (SameSite=Lax stops most, not
all), so a form changes something only when it echoes the page's token: the session's CSRF
token once signed in, else a random double-submit cookie (the sign-in form, and an open
loopback workspace that has no users and so no session).

Then, before a field is read, the caller's permission: the route's declared policy (`policy(...)`
next to the route), when it is a project action, is asked of the same `Authorizer` the services
use. A viewer who posts a malformed form is told 403 (and audited as a denial), not what is
wrong with the input; the service still checks again (ADR 35)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from tandem.core.auth import Action, Principal
from tandem.core.net import safe_next
from tandem.errors import InvalidInput, PermissionDenied
from tandem.http.deps import client_address
from tandem.http.policy import declared
from tandem.identity.service import constant_time_equal
from tandem.web.render import PRE_SESSION_COOKIE

__all__ = ["checked_form", "safe_next", "text"]

MAX_FORM_FIELDS = 50


async def checked_form(request: Request, project: str | None = None) -> FormData:
    """The posted form, once its `csrf_token` matches; else PermissionDenied (403), which the
    error handler records in the audit log as a denial before anything is changed."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    sent = form.get("csrf_token")
    sent = sent if isinstance(sent, str) else ""
    session = getattr(request.state, "web_session", None)
    expected = (
        session.csrf_token if session is not None else request.cookies.get(PRE_SESSION_COOKIE)
    )
    if not (sent and expected and constant_time_equal(sent, expected)):
        if getattr(request.state, "principal", None) is None:
            request.state.principal = Principal.anonymous(client_address(request))
        error = PermissionDenied("missing or wrong CSRF token: reload the page and try again")
        error.project = project
        raise error
    if project is not None:
        _require_declared(request, project)
    return form


def _require_declared(request: Request, project: str) -> None:
    """Raise as the service would (401, 404 to a stranger, 403) unless the caller may do the
    project action the matched route declares; rules decided by records (a gate's signer, an
    action's owner) are left to the service."""
    route = request.scope.get("route")
    rule = declared(getattr(route, "openapi_extra", None))
    principal = getattr(request.state, "principal", None)
    if rule is None or principal is None:
        return
    try:
        action = Action(rule)
    except ValueError:
        return
    request.app.state.services.auth.require(principal, action, project)


def text(form: FormData, name: str, limit: int = 4096) -> str:
    """A text field of the form ('' when missing), cut to `limit` characters."""
    value: Any = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def require_confirmation(form: FormData, message: str) -> None:
    """A destructive form goes ahead only when its confirmation box is ticked."""
    if text(form, "confirm", 10) != "yes":
        raise InvalidInput(message)
