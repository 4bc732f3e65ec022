"""Access pages: the audit log, a project's members, and your account (password, tokens).

Forms post back here, pass the CSRF check first, then call the identity service, which decides
whether the caller may; a mistake in the input re-renders the page with the reason."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal, Role
from tandem.core.clock import now_ms, parse_duration
from tandem.core.validation import parse_whole_number
from tandem.errors import (
    AlreadyExists,
    Conflict,
    HiddenNotFound,
    InvalidInput,
    NotFound,
    TandemError,
)
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import OWN_OR_ADMIN, SIGNED_IN, policy
from tandem.identity.models import MemberSet, PasswordChange, TokenCreate, TokenCreated
from tandem.web.deps import ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.paging import Pager
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

AUDIT_PER_PAGE = 100
OUTCOMES = ("ok", "denied", "failed")
NOTICES = {
    "member-saved": "Member saved.",
    "member-removed": "Member removed.",
    "token-revoked": "Token revoked.",
}


def is_user_mistake(exc: TandemError) -> bool:
    """Errors to show next to the form; refusals go to the error page (and the audit log)."""
    if isinstance(exc, HiddenNotFound):
        return False
    return isinstance(exc, InvalidInput | Conflict | AlreadyExists | NotFound)


def parse_since(raw: str) -> int | None:
    """`7d`, `24h`, `30m`, `2w` ago (as `tandem audit --since`), or a date `2025-01-31` (UTC),
    as ms since the epoch."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return now_ms() - parse_duration(raw.lower()) * 1000
    except InvalidInput:
        pass
    try:
        day = dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput("since: write 7d, 24h, 30m, 2w or a date like 2025-01-31") from None
    return int(day.timestamp() * 1000)


# -- audit log ------------------------------------------------------------------------------


async def _audit(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    project: str | None,
) -> Response:
    q = request.query_params
    here = {k: q.get(k) or None for k in ("since", "actor", "action", "outcome", "cursor", "back")}
    error = None
    events: list[Any] = []
    next_cursor = None
    try:
        page = await offload(
            services.audit.list,
            principal,
            project=project,
            since=parse_since(here["since"] or ""),
            actor=here["actor"],
            action=here["action"],
            outcome=here["outcome"],
            cursor=here["cursor"],
            limit=AUDIT_PER_PAGE,
        )
        events, next_cursor = page.items, page.next_cursor
    except InvalidInput as exc:
        error = exc.message
    crumbs: list[tuple[str, str | None]] = [("Projects", "/")]
    if project:
        crumbs.append((project, f"/projects/{quote(project, safe='')}"))
    crumbs.append(("Audit log", None))
    context = {
        "project": project,
        "events": events,
        "error": error,
        "here": here,
        "outcomes": OUTCOMES,
        "pager": Pager.of(here["cursor"], here["back"], next_cursor),
        "crumbs": crumbs,
    }
    return render(request, "audit.html", context, principal=principal, status=422 if error else 200)


@router.get("/audit", openapi_extra=policy(Action.ADMIN))
async def workspace_audit(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _audit(request, services, principal, None)


@router.get("/projects/{project}/audit", openapi_extra=policy(Action.AUDIT_READ))
async def project_audit(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _audit(request, services, principal, project)


# -- members --------------------------------------------------------------------------------


async def _members_page(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    project: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    members = await offload(services.identity.list_members, principal, project)
    context = {
        "project": project,
        "members": members,
        "roles": list(Role),
        "may_write": principal.may(Action.MEMBERS_WRITE, project),
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": [("Projects", "/"), (project, f"/projects/{quote(project, safe='')}"),
                   ("Members", None)],
    }  # fmt: skip
    return render(request, "members.html", context, principal=principal, status=status)


def _members_url(project: str, notice: str) -> str:
    return f"/projects/{quote(project, safe='')}/members?notice={notice}"


@router.get("/projects/{project}/members", openapi_extra=policy(Action.MEMBERS_READ))
async def members(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _members_page(request, services, principal, project)


@router.post("/projects/{project}/members", openapi_extra=policy(Action.MEMBERS_WRITE))
async def set_member(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)
    try:
        role_text = text(form, "role", 64)
        data = MemberSet(
            user=text(form, "user", 64).strip(), role=Role.parse(role_text) if role_text else None
        )
        await offload(services.identity.set_member, principal, project, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _members_page(
            request, services, principal, project, error=exc.message, status=exc.status
        )
    return redirect(_members_url(project, "member-saved"))


@router.post(
    "/projects/{project}/members/{user}/remove", openapi_extra=policy(Action.MEMBERS_WRITE)
)
async def remove_member(
    request: Request, project: str, user: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await checked_form(request, project)
    try:
        await offload(services.identity.remove_member, principal, project, user)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _members_page(
            request, services, principal, project, error=exc.message, status=exc.status
        )
    return redirect(_members_url(project, "member-removed"))


# -- account --------------------------------------------------------------------------------


async def _account_page(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    *,
    error: str | None = None,
    created: TokenCreated | None = None,
    status: int = 200,
) -> Response:
    me = services.identity.me(principal)  # refuses anyone not signed in
    tokens = await offload(services.identity.list_tokens, principal)
    context = {
        "me": me,
        "tokens": tokens,
        "notifications": await offload(services.notifier.mine, principal, limit=30),
        "actions": await offload(services.registers.my_actions, principal),
        "created": created,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "has_password": principal.user_pk is not None,
        "crumbs": [("Account", None)],
    }
    return render(request, "account.html", context, principal=principal, status=status)


@router.get("/account", openapi_extra=policy(SIGNED_IN))
async def account(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
    return await _account_page(request, services, principal)


@router.post("/account/notifications/read", openapi_extra=policy(SIGNED_IN))
async def read_notifications(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await checked_form(request)
    await offload(services.notifier.mark_read, principal)
    return redirect("/account#waiting-h")


@router.post("/account/password", openapi_extra=policy(SIGNED_IN))
async def change_password(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request)
    services.auth.require(principal, Action.ACCOUNT)  # before reading the form's fields
    new = text(form, "new_password", 2048)
    try:
        if new != text(form, "confirm_password", 2048):
            raise InvalidInput("the new passwords do not match; nothing changed")
        data = PasswordChange(
            current_password=text(form, "current_password", 2048), new_password=new
        )
        await offload(services.identity.change_password, principal, data)
    except InvalidInput as exc:
        return await _account_page(request, services, principal, error=exc.message, status=422)
    return redirect("/login?notice=password-changed")  # every session of yours was signed out


@router.post("/account/tokens", openapi_extra=policy(SIGNED_IN))
async def create_token(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request)
    services.auth.require(principal, Action.ACCOUNT)  # before reading the form's fields
    days = text(form, "expires_in_days", 8).strip()
    try:
        number = parse_whole_number(days)
        if days and number is None and days != "never":
            raise InvalidInput("expires in: a number of days, or never")
        expires = None if days == "never" else number if days else 90
        if expires is not None and not 1 <= expires <= 3650:
            raise InvalidInput("expires in: 1 to 3650 days, or never")
        data = TokenCreate(name=text(form, "name", 250).strip(), expires_in_days=expires)
        created = await offload(services.identity.create_token, principal, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _account_page(
            request, services, principal, error=exc.message, status=exc.status
        )
    return await _account_page(request, services, principal, created=created, status=201)


@router.post("/account/tokens/{token_id}/revoke", openapi_extra=policy(OWN_OR_ADMIN))
async def revoke_token(
    request: Request, token_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await checked_form(request)
    await offload(services.identity.revoke_token, principal, token_id)
    return redirect("/account?notice=token-revoked")
