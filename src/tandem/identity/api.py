"""REST endpoints for users, tokens, membership and the caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.identity.models import (
    Me,
    Member,
    MemberRole,
    MemberSet,
    PasswordChange,
    Token,
    TokenCreate,
    TokenCreated,
    User,
    UserCreate,
)
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import OWN_OR_ADMIN, SIGNED_IN, policy

router = APIRouter(tags=["identity"])


@router.get("/me", openapi_extra=policy(SIGNED_IN))
async def me(services: ServicesDep, principal: PrincipalDep) -> Me:
    """Who you are and your role in each project."""
    return services.identity.me(principal)


@router.post("/me/password", status_code=204, openapi_extra=policy(SIGNED_IN))
async def change_password(
    body: PasswordChange, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await offload(services.identity.change_password, principal, body)
    return Response(status_code=204)


@router.post("/users", status_code=201, openapi_extra=policy(Action.ADMIN))
async def create_user(body: UserCreate, services: ServicesDep, principal: PrincipalDep) -> User:
    return await offload(services.identity.create_user, principal, body)


@router.get("/users", openapi_extra=policy(Action.ADMIN))
async def list_users(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> Page[User]:
    return await offload(services.identity.list_users, principal, cursor=cursor, limit=limit)


@router.get("/users/{user}", openapi_extra=policy(OWN_OR_ADMIN))
async def get_user(user: str, services: ServicesDep, principal: PrincipalDep) -> User:
    return await offload(services.identity.get_user, principal, user)


@router.post("/users/{user}/disable", openapi_extra=policy(Action.ADMIN))
async def disable_user(user: str, services: ServicesDep, principal: PrincipalDep) -> User:
    """Disable a user: their tokens and sessions stop working at once."""
    return await offload(services.identity.set_user_disabled, principal, user, True)


@router.post("/users/{user}/enable", openapi_extra=policy(Action.ADMIN))
async def enable_user(user: str, services: ServicesDep, principal: PrincipalDep) -> User:
    return await offload(services.identity.set_user_disabled, principal, user, False)


@router.post("/tokens", status_code=201, openapi_extra=policy(SIGNED_IN))
async def create_token(
    body: TokenCreate, services: ServicesDep, principal: PrincipalDep
) -> TokenCreated:
    """Make an API token. The secret is in this answer only; store it now."""
    return await offload(services.identity.create_token, principal, body)


@router.get("/tokens", openapi_extra=policy(SIGNED_IN))
async def list_tokens(
    services: ServicesDep,
    principal: PrincipalDep,
    user: str | None = Query(None, description="admins: whose tokens, or * for everyone's"),
) -> list[Token]:
    return await offload(services.identity.list_tokens, principal, user)


@router.delete("/tokens/{token_id}", openapi_extra=policy(OWN_OR_ADMIN))
async def revoke_token(token_id: str, services: ServicesDep, principal: PrincipalDep) -> Token:
    return await offload(services.identity.revoke_token, principal, token_id)


@router.get("/projects/{project}/members", openapi_extra=policy(Action.MEMBERS_READ))
async def list_members(
    project: str, services: ServicesDep, principal: PrincipalDep
) -> list[Member]:
    return await offload(services.identity.list_members, principal, project)


@router.put("/projects/{project}/members/{user}", openapi_extra=policy(Action.MEMBERS_WRITE))
async def set_member(
    project: str, user: str, body: MemberRole, services: ServicesDep, principal: PrincipalDep
) -> Member:
    """Add `user` to the project, or change their role (body: `{"role": "data-scientist"}`)."""
    data = MemberSet(user=user, role=body.role)
    return await offload(services.identity.set_member, principal, project, data)


@router.delete(
    "/projects/{project}/members/{user}",
    status_code=204,
    openapi_extra=policy(Action.MEMBERS_WRITE),
)
async def remove_member(
    project: str, user: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await offload(services.identity.remove_member, principal, project, user)
    return Response(status_code=204)
