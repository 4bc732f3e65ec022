"""REST endpoints for users, tokens, membership and the caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import OWN_OR_ADMIN, SIGNED_IN, policy
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
from tandem.identity.service import IdentityService

router = APIRouter(tags=["identity"])

IdentityDep = Annotated[IdentityService, service(IdentityService)]


@router.get("/me", openapi_extra=policy(SIGNED_IN))
async def me(identity: IdentityDep, principal: PrincipalDep) -> Me:
    """Who you are and your role in each project."""
    return identity.me(principal)


@router.post("/me/password", status_code=204, openapi_extra=policy(SIGNED_IN))
async def change_password(
    body: PasswordChange, identity: IdentityDep, principal: PrincipalDep
) -> Response:
    await offload(identity.change_password, principal, body)
    return Response(status_code=204)


@router.post("/users", status_code=201, openapi_extra=policy(Action.ADMIN))
async def create_user(body: UserCreate, identity: IdentityDep, principal: PrincipalDep) -> User:
    return await offload(identity.create_user, principal, body)


@router.get("/users", openapi_extra=policy(Action.ADMIN))
async def list_users(
    identity: IdentityDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> Page[User]:
    return await offload(identity.list_users, principal, cursor=cursor, limit=limit)


@router.get("/users/{user}", openapi_extra=policy(OWN_OR_ADMIN))
async def get_user(user: str, identity: IdentityDep, principal: PrincipalDep) -> User:
    return await offload(identity.get_user, principal, user)


@router.post("/users/{user}/disable", openapi_extra=policy(Action.ADMIN))
async def disable_user(user: str, identity: IdentityDep, principal: PrincipalDep) -> User:
    """Disable a user: their tokens and sessions stop working at once."""
    return await offload(identity.set_user_disabled, principal, user, True)


@router.post("/users/{user}/enable", openapi_extra=policy(Action.ADMIN))
async def enable_user(user: str, identity: IdentityDep, principal: PrincipalDep) -> User:
    return await offload(identity.set_user_disabled, principal, user, False)


@router.post("/tokens", status_code=201, openapi_extra=policy(SIGNED_IN))
async def create_token(
    body: TokenCreate, identity: IdentityDep, principal: PrincipalDep
) -> TokenCreated:
    """Make an API token. The secret is in this answer only; store it now."""
    return await offload(identity.create_token, principal, body)


@router.get("/tokens", openapi_extra=policy(SIGNED_IN))
async def list_tokens(
    identity: IdentityDep,
    principal: PrincipalDep,
    user: str | None = Query(None, description="admins: whose tokens, or * for everyone's"),
) -> list[Token]:
    return await offload(identity.list_tokens, principal, user)


@router.delete("/tokens/{token_id}", openapi_extra=policy(OWN_OR_ADMIN))
async def revoke_token(token_id: str, identity: IdentityDep, principal: PrincipalDep) -> Token:
    return await offload(identity.revoke_token, principal, token_id)


@router.get("/projects/{project}/members", openapi_extra=policy(Action.MEMBERS_READ))
async def list_members(
    project: str, identity: IdentityDep, principal: PrincipalDep
) -> list[Member]:
    return await offload(identity.list_members, principal, project)


@router.put("/projects/{project}/members/{user}", openapi_extra=policy(Action.MEMBERS_WRITE))
async def set_member(
    project: str, user: str, body: MemberRole, identity: IdentityDep, principal: PrincipalDep
) -> Member:
    """Add `user` to the project, or change their role (body: `{"role": "data-scientist"}`)."""
    data = MemberSet(user=user, role=body.role)
    return await offload(identity.set_member, principal, project, data)


@router.delete(
    "/projects/{project}/members/{user}",
    status_code=204,
    openapi_extra=policy(Action.MEMBERS_WRITE),
)
async def remove_member(
    project: str, user: str, identity: IdentityDep, principal: PrincipalDep
) -> Response:
    await offload(identity.remove_member, principal, project, user)
    return Response(status_code=204)
