"""Identity models (the REST schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

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


MAX_TOKEN_DAYS = 3650


class TokenCreate(BaseModel):
    name: str
    user: str | None = Field(default=None, description="whose token (admins only); default: yours")
    expires_in_days: int | None = Field(
        default=90, ge=1, le=MAX_TOKEN_DAYS, description="null: never (unless expires_in_seconds)"
    )
    expires_in_seconds: int | None = Field(
        default=None,
        ge=60,
        le=MAX_TOKEN_DAYS * 86_400,
        description="the lifetime to the second (e.g. 3600 for an hour); "
        "send it instead of expires_in_days",
    )

    @model_validator(mode="after")
    def _one_lifetime(self) -> TokenCreate:
        days_too = "expires_in_days" in self.model_fields_set and self.expires_in_days is not None
        if self.expires_in_seconds is not None and days_too:
            raise ValueError("send expires_in_days or expires_in_seconds, not both")
        return self

    def lifetime_seconds(self) -> int | None:
        """How long the token lives, or None for ever."""
        if self.expires_in_seconds is not None:
            return self.expires_in_seconds
        return self.expires_in_days * 86_400 if self.expires_in_days is not None else None


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
