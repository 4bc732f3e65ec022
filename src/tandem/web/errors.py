"""Errors on web pages: the same statuses as the REST API, as an HTML page instead of
problem+json. Requests under /api/ keep the REST handlers untouched; denials are audited by
the REST handler's own `audit_denial`, so both faces record them the same way."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tandem.errors import HiddenNotFound, PermissionDenied, TandemError, Unauthenticated
from tandem.http.errors import allowed_methods, audit_denial
from tandem.web.render import redirect, render

log = logging.getLogger(__name__)

Handler = Callable[[Request, Any], Awaitable[Response]]

_TITLES = {
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/ajax-api/"))  # /ajax-api/: MLflow's REST API


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Error")
    return render(request, "error.html", {"status": status, "title": title, "message": message},
                  status=status)  # fmt: skip


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.url.path
    return redirect("/login?next=" + quote(target, safe=""))


def install_web_error_pages(app: FastAPI) -> None:
    """Wrap the REST error handlers: API paths go to them, web pages get an HTML page."""
    rest: dict[Any, Handler] = dict(app.exception_handlers)

    async def tandem_error(request: Request, exc: TandemError) -> Response:
        if is_api(request):
            return await rest[TandemError](request, exc)
        if isinstance(exc, Unauthenticated):
            await audit_denial(request, exc)  # records attempts to change, not page views
            return sign_in_redirect(request)
        if isinstance(exc, HiddenNotFound | PermissionDenied):
            await audit_denial(request, exc)
        return error_page(request, exc.status, exc.message)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request):
            return await rest[StarletteHTTPException](request, exc)
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        page = error_page(request, exc.status_code, message)
        if exc.status_code == 405:
            page.headers["Allow"] = ", ".join(allowed_methods(request))
        return page

    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return await rest[RequestValidationError](request, exc)
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_page(request, 422, f"{where}: {first.get('msg', 'invalid request')}")

    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_api(request):
            return await rest[Exception](request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(request, 500, "The server failed unexpectedly; see its log.")

    app.add_exception_handler(TandemError, tandem_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
