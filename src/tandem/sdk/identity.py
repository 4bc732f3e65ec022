"""`client.users`, `client.tokens`, `client.members`, `client.audit`: people, access and the
audit log, over the REST API like everything else in the SDK."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.audit.models import AuditEvent
from tandem.core.auth import Role
from tandem.core.paging import Page
from tandem.identity.models import (
    Me,
    Member,
    MemberRole,
    PasswordChange,
    Token,
    TokenCreated,
    User,
    UserCreate,
)
from tandem.sdk.transport import Http

API = "/api/v1"
_TOKENS = TypeAdapter(list[Token])
_MEMBERS = TypeAdapter(list[Member])


def _q(text: str) -> str:
    return quote(text, safe="")


class Users:
    """`client.users`: workspace admins manage users; anyone may read themselves."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def me(self) -> Me:
        return Me.model_validate_json(self._http.request("GET", f"{API}/me").content)

    def create(
        self,
        name: str,
        *,
        role: Role | str = Role.VIEWER,
        password: str | None = None,
        display_name: str = "",
        email: str = "",
    ) -> User:
        body = UserCreate(
            name=name,
            role=Role(role),
            password=password,
            display_name=display_name,
            email=email,
        ).model_dump()
        return User.model_validate_json(
            self._http.request("POST", f"{API}/users", json=body).content
        )

    def get(self, name: str) -> User:
        return User.model_validate_json(
            self._http.request("GET", f"{API}/users/{_q(name)}").content
        )

    def list(self, *, cursor: str | None = None, limit: int = 100) -> Page[User]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = self._http.request("GET", f"{API}/users", params=params)
        return Page[User].model_validate_json(response.content)

    def disable(self, name: str) -> User:
        """Disable a user: their tokens and sessions stop working at once."""
        return User.model_validate_json(
            self._http.request("POST", f"{API}/users/{_q(name)}/disable").content
        )

    def enable(self, name: str) -> User:
        return User.model_validate_json(
            self._http.request("POST", f"{API}/users/{_q(name)}/enable").content
        )

    def change_password(self, current_password: str, new_password: str) -> None:
        body = PasswordChange(current_password=current_password, new_password=new_password)
        self._http.request("POST", f"{API}/me/password", json=body.model_dump())


class Tokens:
    """`client.tokens`: API tokens. A new token's secret is returned once; store it then."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(
        self,
        name: str,
        *,
        user: str | None = None,
        expires_in_days: int | None = 90,
        expires_in_seconds: int | None = None,
    ) -> TokenCreated:
        """Make a token living `expires_in_days` (None: for ever), or `expires_in_seconds`
        when given (at least 60)."""
        days = None if expires_in_seconds is not None else expires_in_days
        body = {
            "name": name,
            "user": user,
            "expires_in_days": days,
            "expires_in_seconds": expires_in_seconds,
        }
        return TokenCreated.model_validate_json(
            self._http.request("POST", f"{API}/tokens", json=body).content
        )

    def list(self, user: str | None = None) -> list[Token]:
        params = {"user": user} if user else {}
        return _TOKENS.validate_json(
            self._http.request("GET", f"{API}/tokens", params=params).content
        )

    def revoke(self, token_id: str) -> Token:
        return Token.model_validate_json(
            self._http.request("DELETE", f"{API}/tokens/{_q(token_id)}").content
        )


class Members:
    """`client.members`: who belongs to a project, with which role."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def list(self, project: str) -> list[Member]:
        return _MEMBERS.validate_json(
            self._http.request("GET", f"{API}/projects/{_q(project)}/members").content
        )

    def set(self, project: str, user: str, role: Role | str | None = None) -> Member:
        """Add `user` to `project`, or change their role (default: their workspace role)."""
        body = MemberRole(role=Role(role) if role else None).model_dump()
        path = f"{API}/projects/{_q(project)}/members/{_q(user)}"
        return Member.model_validate_json(self._http.request("PUT", path, json=body).content)

    def remove(self, project: str, user: str) -> None:
        self._http.request("DELETE", f"{API}/projects/{_q(project)}/members/{_q(user)}")


class Audit:
    """`client.audit`: read the append-only audit log."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def list(
        self,
        project: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[AuditEvent]:
        """Events, newest first; times are ms since the epoch."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (
            ("project", project),
            ("since", since),
            ("until", until),
            ("actor", actor),
            ("action", action),
            ("outcome", outcome),
            ("cursor", cursor),
        ):
            if value is not None:
                params[key] = value
        response = self._http.request("GET", f"{API}/audit", params=params)
        return Page[AuditEvent].model_validate_json(response.content)
