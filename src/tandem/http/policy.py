"""Route policies: every route the app serves declares who may call it, next to the route.

The declaration is what the route-inventory test checks is present on every route, and what
the authorisation matrix test compares each role's real answers with. Enforcement itself is in
the service layer (`tandem.core.auth.Authorizer`), so every face gets the same rules; the
declaration states the rule the service must be enforcing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.routing import Mount

from tandem.core.auth import Action

POLICY_KEY = "x-tandem-policy"

PUBLIC = "public"  # anyone, signed in or not (health, the sign-in page, static files)
SIGNED_IN = "signed-in"  # any signed-in user; the service scopes the answer to them
OWN_OR_ADMIN = "own-or-admin"  # the user the thing belongs to, or a workspace admin
GATE_SIGNER = "gate-signer"  # the members the RACI marks Accountable for the gate's activity
CRITERION_OWNER = "criterion-owner"  # members whose project role owns the criterion
ITEM_ATTESTER = "item-attester"  # members of the role a project's own gate item names
ACTION_OWNER = "action-owner"  # an action item's owner, or anyone with plan:write


def policy(rule: Action | str) -> dict[str, Any]:
    """`openapi_extra` for a route: `@router.get(..., openapi_extra=policy(Action.RUN_READ))`.
    A project action applies to the project the route names (path, query or body)."""
    return {POLICY_KEY: str(rule)}


def declared(openapi_extra: dict[str, Any] | None) -> str | None:
    return (openapi_extra or {}).get(POLICY_KEY)


@dataclass(frozen=True, slots=True)
class ServedRoute:
    """One route as served: its full path, methods, and declared policy (None: undeclared)."""

    path: str
    methods: frozenset[str]
    policy: str | None
    is_mount: bool


def served_routes(app: Any) -> list[ServedRoute]:
    """Every route `app` serves, with routers' prefixes applied (FastAPI >= 0.120 keeps included
    routers as lazy wrappers, so `app.routes` alone does not list them)."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI flattens included routers itself
        contexts = list(app.routes)
    found = []
    for route in contexts:
        original = getattr(route, "original_route", route)
        extra = getattr(route, "openapi_extra", None) or getattr(original, "openapi_extra", None)
        policy = PUBLIC if route.path == app.openapi_url else declared(extra)
        found.append(
            ServedRoute(
                path=str(route.path),
                methods=frozenset(route.methods or ()),
                policy=policy,
                is_mount=isinstance(original, Mount),
            )
        )
    return found
