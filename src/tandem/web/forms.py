"""Form posts: the CSRF check every one of them passes first.

A browser sends the session cookie with cross-site posts too (SameSite=Lax stops most, not
all), so a form changes something only when it echoes the page's token: the session's CSRF
token once signed in, else a random double-submit cookie (the sign-in form, and an open
loopback workspace that has no users and so no session)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from tandem.core.auth import Principal
from tandem.core.net import safe_next
from tandem.errors import PermissionDenied
from tandem.http.deps import client_address
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
    return form


def text(form: FormData, name: str, limit: int = 4096) -> str:
    """A text field of the form ('' when missing), cut to `limit` characters."""
    value: Any = form.get(name)
    return value[:limit] if isinstance(value, str) else ""
