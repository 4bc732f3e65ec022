"""The web UI's router: sign-in, sign-out and the projects list here; runs and access pages in
their own modules. Pages call the services with the caller's principal and render what comes
back; the services decide what each caller may see or do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Principal, PrincipalKind
from tandem.errors import RateLimited, Unauthenticated
from tandem.http.deps import SESSION_COOKIE, PrincipalDep, client_address, get_principal, offload
from tandem.http.policy import PUBLIC, SIGNED_IN, policy
from tandem.identity.service import SESSION_HOURS
from tandem.web import (
    access,
    alerts,
    data,
    deployments,
    gates,
    incidents,
    monitorforms,
    monitoring,
    playbooks,
    postmortems,
    project,
    registry,
    tracking,
)
from tandem.web.deps import ServicesDep
from tandem.web.forms import checked_form, safe_next, text
from tandem.web.paging import Pager
from tandem.web.render import is_https, redirect, render

PUBLIC_MOUNTS = {"/static"}  # served to anyone: CSS, JS, the vendored chart library

router = APIRouter(include_in_schema=False)
router.include_router(project.router)
router.include_router(gates.router)
router.include_router(tracking.router)
router.include_router(access.router)
router.include_router(data.router)
router.include_router(registry.router)
router.include_router(monitorforms.router)  # before `endpoints/{name}/{change}`
router.include_router(deployments.router)
router.include_router(monitoring.router)
router.include_router(alerts.router)
router.include_router(incidents.router)
router.include_router(postmortems.router)
router.include_router(playbooks.router)

PROJECTS_PER_PAGE = 100


@router.get("/login", openapi_extra=policy(PUBLIC))
async def login_page(request: Request, services: ServicesDep, next: str = "/") -> Response:
    principal = await _principal_quietly(request)
    if principal.kind is PrincipalKind.USER:
        return redirect(safe_next(next))
    open_workspace = principal.kind is PrincipalKind.OWNER
    return render(
        request,
        "login.html",
        {
            "next": safe_next(next),
            "error": None,
            "name": "",
            "open_workspace": open_workspace,
            "sso": services.oidc is not None,
        },
        principal=principal,
    )


@router.post("/login", openapi_extra=policy(PUBLIC))
async def login(request: Request, services: ServicesDep) -> Response:
    request.state.principal = Principal.anonymous(client_address(request))
    form = await checked_form(request)
    name, target = text(form, "name", 64), safe_next(text(form, "next"))
    try:
        session_id, _session = await offload(
            services.identity.login, name, text(form, "password"), client_address(request)
        )
    except (Unauthenticated, RateLimited) as exc:
        context = {
            "next": target,
            "error": exc.message,
            "name": name,
            "open_workspace": False,
            "sso": services.oidc is not None,
        }
        return render(request, "login.html", context, status=exc.status)
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    return response


@router.post("/logout", openapi_extra=policy(PUBLIC))  # ends only the caller's own session
async def logout(request: Request, services: ServicesDep) -> Response:
    principal = await _principal_quietly(request)  # stale credentials: signing out still works
    await checked_form(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and getattr(request.state, "web_session", None) is not None:
        await offload(services.identity.logout, principal, session_id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/", openapi_extra=policy(SIGNED_IN))
async def projects(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    back: str | None = None,
) -> Response:
    page = await offload(services.projects.list, principal, cursor=cursor, limit=PROJECTS_PER_PAGE)
    context = {
        "projects": page.items,
        "pager": Pager.of(cursor, back, page.next_cursor),
        "here": {"cursor": cursor, "back": back},
    }
    return render(request, "projects.html", context, principal=principal)


async def _principal_quietly(request: Request) -> Principal:
    """Who is here, for the sign-in page: a bad cookie just means signed out."""
    try:
        return await get_principal(request)
    except Unauthenticated:
        return Principal.anonymous(client_address(request))
