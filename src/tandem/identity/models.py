"""Identity models (the REST schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tandem.core.auth import Role


class User(BaseModel):
    name: str
    display_name: str = ""
    email: str = ""
    role: Role = Field(
        description="workspace role: admin is a workspace admin; any other role "
        "is the default when the user is added to a project"
    )
    created_at: int
    disabled_at: int | None = None
    has_password: bool = False


class UserCreate(BaseModel):
    name: str
    role: Role = Role.VIEWER
    display_name: str = ""
    email: str = ""
    password: str | None = Field(
        default=None, description="for web sign-in; at least 12 characters"
    )


class Token(BaseModel):
    id: str
    name: str
    user: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None


class TokenCreate(BaseModel):
    name: str
    user: str | None = Field(default=None, description="whose token (admins only); default: yours")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="null: never")


class TokenCreated(BaseModel):
    """A new token. `secret` is shown this once; only its hash is stored."""

    token: Token
    secret: str


class Member(BaseModel):
    user: str
    role: Role
    created_at: int


class MemberRole(BaseModel):
    role: Role | None = Field(default=None, description="default: the user's workspace role")


class MemberSet(MemberRole):
    user: str


class PasswordChange(BaseModel):
    current_password: str
    new_password: str


class Me(BaseModel):
    """Who the caller is, and their role in each project."""

    name: str
    kind: str
    is_admin: bool
    via: str
    roles: dict[str, Role]
