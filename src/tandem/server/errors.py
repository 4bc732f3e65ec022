"""One handler renders every error as `application/problem+json` (RFC 9457, `tandem.http.errors`)
with a stable `code`, so clients branch on the code and the SDK can raise the same class it came
from."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from tandem.errors import HiddenNotFound, PermissionDenied, TandemError, Unauthenticated
from tandem.http.errors import allowed_methods, audit_denial, problem
from tandem.server.compat.mlflow import errors as mlflow

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    421: "misdirected-request",
    422: "invalid-input",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TandemError)
    async def tandem_error(request: Request, exc: TandemError) -> Response:
        if isinstance(exc, HiddenNotFound | PermissionDenied | Unauthenticated):
            await audit_denial(request, exc)
        if mlflow.is_mlflow_path(request.url.path):  # MLflow's face answers in its format
            return mlflow.from_tandem(exc)
        return problem(exc.status, exc.code, exc.title, exc.message, request.url.path, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"location": "", "message": "invalid request"}
        detail = (
            f"{first['location']}: {first['message']}" if first["location"] else first["message"]
        )
        return problem(
            422, "invalid-input", "Invalid input", detail, request.url.path, {"errors": errors}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        detail = str(exc.detail) if exc.detail else code
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        if mlflow.is_mlflow_path(request.url.path):
            return mlflow.from_http(exc.status_code, detail)
        response = problem(
            exc.status_code, code, code.replace("-", " ").capitalize(), detail, request.url.path, {}
        )
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            # every method the path takes (RFC 9110), not only those of the route that matched
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to answer: one line in the log, not a traceback.
        log.warning(
            "client %s disconnected during %s %s",
            request.client.host if request.client else "unknown",
            request.method,
            request.url.path,
        )
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if mlflow.is_mlflow_path(request.url.path):
            return mlflow.from_http(
                500, "the server failed unexpectedly; the details are in its log"
            )
        return problem(
            500, "server-error", "Server error",
            "the server failed unexpectedly; the details are in its log",
            request.url.path, {},
        )  # fmt: skip
