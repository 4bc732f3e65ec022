"""Web routes for OIDC sign-in: `/login/oidc` sends the browser to the identity provider,
`/login/oidc/callback` receives it back and opens a tandem session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tandem.core.net import safe_next
from tandem.errors import NotFound, TandemError
from tandem.http.deps import (
    SESSION_COOKIE,
    SettingsDep,
    client_address,
    offload,
    optional_service,
    service,
)
from tandem.http.policy import PUBLIC, policy
from tandem.identity.oidc import STATE_COOKIE, STATE_MAX_AGE, OidcClient, PendingSignIn
from tandem.identity.service import IdentityService

router = APIRouter(include_in_schema=False)

IdentityDep = Annotated[IdentityService, service(IdentityService)]
OidcDep = Annotated[OidcClient | None, optional_service(OidcClient)]

CALLBACK = "/login/oidc/callback"


def _redirect_uri(request: Request, public_url: str | None) -> str:
    base = (public_url or str(request.base_url)).rstrip("/")
    return base + CALLBACK


@router.get("/login/oidc", openapi_extra=policy(PUBLIC))
async def oidc_start(
    request: Request, oidc: OidcDep, settings: SettingsDep, next: str = "/"
) -> Response:
    """Send the browser to the identity provider."""
    if oidc is None:
        raise NotFound("single sign-on is not configured on this server")
    redirect_uri = _redirect_uri(request, settings.public_url)
    url, pending = await offload(oidc.start, redirect_uri, safe_next(next))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        pending.to_cookie(),
        max_age=STATE_MAX_AGE,
        path="/login/oidc",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(CALLBACK, openapi_extra=policy(PUBLIC))
async def oidc_callback(
    request: Request, oidc: OidcDep, settings: SettingsDep, identity: IdentityDep
) -> Response:
    """Check what the provider sent back, then sign the user in."""
    if oidc is None:
        raise NotFound("single sign-on is not configured on this server")
    source = client_address(request)
    try:
        pending = PendingSignIn.from_cookie(request.cookies.get(STATE_COOKIE))
        claims = await offload(
            oidc.finish,
            _redirect_uri(request, settings.public_url),
            dict(request.query_params),
            pending,
        )
        name = str(claims.get(oidc.settings.username_claim) or "")
        session_id, _session = await offload(
            identity.login_external,
            name,
            source,
            provider=oidc.settings.display_name,
            create_as=oidc.settings.create_users_as,
            display_name=str(claims.get("name") or ""),
            email=str(claims.get("email") or ""),
        )
    except TandemError as exc:
        response: Response = Response(
            f"Sign-in failed: {exc.message}\n", status_code=exc.status, media_type="text/plain"
        )
        response.delete_cookie(STATE_COOKIE, path="/login/oidc")
        return response
    response = RedirectResponse(pending.next, status_code=303)
    response.delete_cookie(STATE_COOKIE, path="/login/oidc")
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response
