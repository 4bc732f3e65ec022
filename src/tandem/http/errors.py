"""What the routes share about errors: the `application/problem+json` (RFC 9457) body every
error is rendered as, the methods a path takes (for 405's Allow), and the audit of a refusal.
The app's handlers (`tandem.server.errors`) and the web pages' (`tandem.web.errors`) use them."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import orjson
from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import compile_path

from tandem.core.auth import Principal
from tandem.errors import TandemError
from tandem.http.deps import offload

log = logging.getLogger(__name__)

PROBLEM_TYPE = "https://tandem.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class DenialLog(Protocol):
    """Where refusals are recorded (the audit log is one; the server sets it on `app.state`)."""

    def record_alone(
        self,
        principal: Principal,
        action: str,
        target: str,
        *,
        project: str | None = None,
        outcome: str = ...,
        **details: Any,
    ) -> None: ...


def problem(
    status: int, code: str, title: str, detail: str, instance: str, details: dict[str, Any]
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if details:
        body["details"] = details
    return Response(
        orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_MEDIA_TYPE
    )


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app serves on this request's path."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        request.app.state, "method_table", None
    )
    if table is None:  # the routes are fixed once the app serves: list them once
        table = []
        for route in iter_route_contexts(request.app.routes):
            if route.path and route.methods:
                table.append((compile_path(route.path)[0], frozenset(route.methods)))
        request.app.state.method_table = table
    path = request.scope["path"]
    return sorted({method for regex, methods in table if regex.match(path) for method in methods})


async def audit_denial(request: Request, exc: TandemError) -> None:
    """Record a refusal in the audit log: from anyone who presented credentials, and any
    attempt to change something. (An anonymous page view that is sent to sign in is not news.)"""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return
    presented = principal.via != "none" or "authorization" in request.headers
    if not presented and request.method in _SAFE_METHODS:
        return
    project = exc.project or request.path_params.get("project")
    denials: DenialLog = request.app.state.denials
    try:
        await offload(
            denials.record_alone,
            principal,
            "access.denied",
            request.url.path,
            project=project if isinstance(project, str) else None,
            outcome="denied",
            method=request.method,
            code=exc.code,
            reason=exc.message,
        )
    except Exception:  # the refusal stands even if it cannot be recorded
        log.exception("could not record a denial in the audit log")
