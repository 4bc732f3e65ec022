"""Rendering pages: one Jinja2 environment (autoescape on for every template) and the security
headers every page carries. Pages put no script or style inline, so the CSP can forbid both."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tandem.core.auth import Action, Principal, PrincipalKind
from tandem.core.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PRE_SESSION_COOKIE = "tandem_login_csrf"  # double-submit token for forms before a session

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages show what the signed-in user may see
}


def _when(ms: int | None) -> str:
    """Milliseconds since the epoch as a UTC time people read."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if value != value else f"{value:.6g}"  # a NaN metric value (ADR 33)
    return "" if value is None else str(value)


def _query(base: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current query with `changes` applied (None drops a key)."""
    merged = {**base, **changes}
    kept = {k: v for k, v in merged.items() if v is not None and v != ""}
    return "?" + urlencode(kept) if kept else "?"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["number"] = _number
env.globals["query"] = _query
env.globals["version"] = __version__
env.globals["Action"] = Action


def form_token(request: Request) -> str:
    """The token this page's forms must post back: the session's, or before a session the
    double-submit cookie's (set by `render` when missing)."""
    session = getattr(request.state, "web_session", None)
    if session is not None:
        token: str = session.csrf_token
        return token
    existing = getattr(request.state, "pre_session_token", None) or request.cookies.get(
        PRE_SESSION_COOKIE
    )
    if not existing:
        existing = secrets.token_urlsafe(24)
        request.state.new_pre_session_token = existing
    request.state.pre_session_token = existing
    return str(existing)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    principal: Principal | None = None,
    status: int = 200,
) -> Response:
    """Render `template` with the page chrome's context, as an HTML response with the
    security headers."""
    principal = principal or getattr(request.state, "principal", None)
    signed_in = principal is not None and principal.kind is not PrincipalKind.ANONYMOUS
    page = {
        "request": request,
        "principal": principal,
        "signed_in": signed_in,
        "has_session": getattr(request.state, "web_session", None) is not None,
        "is_admin": bool(principal and principal.is_superuser),
        "csrf_token": form_token(request),
        "crumbs": [],
        **context,
    }
    html = env.get_template(template).render(page)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    new_token = getattr(request.state, "new_pre_session_token", None)
    if new_token:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            new_token,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
            path="/",
        )
    return response


def redirect(url: str) -> Response:
    """303 See Other: after a form post the browser GETs the result (no resubmit on reload)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
