"""MLflow's error format: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}` with the
HTTP status MLflow's server gives each code (its `ERROR_CODE_TO_HTTP_STATUS`).

Tandem's errors are translated by class, so a rule refused by a service reads the way the
`mlflow` client expects: "already exists" is 400 in MLflow, not 409, and a param that may not
change, or a write to a deleted run, is INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from tandem.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    TandemError,
    Unauthenticated,
)

# The prefixes the MLflow face answers under; errors there are rendered in MLflow's format.
PREFIXES = (
    "/api/2.0/mlflow/",
    "/ajax-api/2.0/mlflow/",
    "/api/3.0/mlflow/",
    "/ajax-api/3.0/mlflow/",
)

STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INVALID_STATE": 500,
    "INTERNAL_ERROR": 500,
}

# Most specific first: InvalidFilter is an InvalidInput, HiddenNotFound a NotFound.
_CODES: tuple[tuple[type[TandemError], str], ...] = (
    (NotFound, "RESOURCE_DOES_NOT_EXIST"),
    (AlreadyExists, "RESOURCE_ALREADY_EXISTS"),
    (Conflict, "INVALID_PARAMETER_VALUE"),
    (InvalidInput, "INVALID_PARAMETER_VALUE"),
    (Unauthenticated, "UNAUTHENTICATED"),
    (PermissionDenied, "PERMISSION_DENIED"),
    (RateLimited, "REQUEST_LIMIT_EXCEEDED"),
    (QuotaExceeded, "RESOURCE_EXHAUSTED"),
    (PayloadTooLarge, "INVALID_PARAMETER_VALUE"),
)


class MlflowError(InvalidInput):
    """A refusal that only the MLflow face makes (its request shapes and limits), with
    MLflow's own error code."""

    def __init__(self, message: str, error_code: str = "INVALID_PARAMETER_VALUE") -> None:
        super().__init__(message)
        self.error_code = error_code


def is_mlflow_path(path: str) -> bool:
    return path.startswith(PREFIXES)


def error_code(exc: TandemError) -> str:
    if isinstance(exc, MlflowError):
        return exc.error_code
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return "BAD_REQUEST" if 400 <= exc.status < 500 else "INTERNAL_ERROR"


def mlflow_error(code: str, message: str, status: int | None = None) -> Response:
    body = json.dumps({"error_code": code, "message": message})
    return Response(
        body, status_code=status or STATUS.get(code, 400), media_type="application/json"
    )


def from_tandem(exc: TandemError) -> Response:
    code = error_code(exc)
    return mlflow_error(code, exc.message, STATUS.get(code, exc.status))


def from_http(status: int, message: str) -> Response:
    """An HTTP-level refusal (no such endpoint, wrong method, bad body) in MLflow's format."""
    if status == 404:
        return mlflow_error("ENDPOINT_NOT_FOUND", message, 404)
    if status == 401:
        return mlflow_error("UNAUTHENTICATED", message, 401)
    if status == 403:
        return mlflow_error("PERMISSION_DENIED", message, 403)
    if status >= 500:
        return mlflow_error("INTERNAL_ERROR", message, status)
    return mlflow_error(
        "BAD_REQUEST" if status != 422 else "INVALID_PARAMETER_VALUE",
        message,
        400 if status == 422 else status,
    )
