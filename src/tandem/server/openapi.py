"""The OpenAPI document, completed so that it tells the truth: every error the API can answer is
declared as the `application/problem+json` body `server/errors.py` sends, and integer bounds keep
their exact value (FastAPI's document model holds them as floats, and 2**63-1 as a float is
2**63, one past what the API takes)."""

from __future__ import annotations

from typing import Any

from tandem.core.validation import MAX_INT, MAX_NUMBER, MAX_SECONDS
from tandem.http.errors import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details; clients branch on `code`.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what failed and what to do next"},
        "code": {"type": "string", "description": "stable, e.g. not-found or invalid-input"},
        "instance": {"type": "string", "description": "the request's path"},
        "details": {"type": "object", "additionalProperties": True},
    },
}

# The errors any API route can answer. Which of them a given route answers depends on the
# caller, the workspace and the state (e.g. 409 only where a write can clash), but declaring
# them all keeps the document simple and true for clients that branch on the status.
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Bad request: the request could not be read"),
    "401": ("Unauthenticated", "No valid credentials: send `Authorization: Bearer <token>`"),
    "403": ("PermissionDenied", "Permission denied"),
    "404": ("NotFound", "Not found (also what a caller who may not see a project is told)"),
    "409": ("Conflict", "Conflict: it exists already, or its state changed"),
    "413": ("PayloadTooLarge", "The request body is larger than the server takes"),
    "415": ("UnsupportedMediaType", "Unsupported media type: send the body the route declares"),
    "421": ("MisdirectedRequest", "The Host header is not a name this server answers to"),
    "422": ("InvalidInput", "Invalid input"),
    "429": ("RateLimited", "Too many requests (failed sign-ins)"),
    "507": ("QuotaExceeded", "An upload would take its user past their storage quota"),
}

# Integer bounds as the API declares them, keyed by their value as FastAPI's floats hold it.
_EXACT_BOUNDS = {float(bound): bound for bound in (MAX_INT, -MAX_INT - 1, MAX_SECONDS, MAX_NUMBER)}
_BOUND_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the problem responses on every route and restore exact integer bounds; returns
    `document`, changed in place. (The document holds the API's routes only: the pages and
    sign-in routes are left out of it.)"""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    components["responses"] = {
        name: {"description": description, "content": problem}
        for name, description in ERROR_RESPONSES.values()
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, (name, _) in ERROR_RESPONSES.items():
                # FastAPI's own 422 says application/json with its validation-error schema;
                # the handler answers problem+json (with the errors in `details`)
                responses[status] = {"$ref": f"#/components/responses/{name}"}
    # only FastAPI's 422 used these, and no route answers them
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    _exact_bounds(document)
    return document


def _exact_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUND_KEYS and isinstance(value, float) and value.is_integer():
                node[key] = _EXACT_BOUNDS.get(value, int(value))
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)
