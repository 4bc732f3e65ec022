"""IdentityService: users, API tokens, web sessions and project membership, and turning a
token or a session cookie into a `Principal`.

Secrets never reach the database: tokens and session ids are stored as SHA-256 (256 random
bits each, so a fast hash is safe), passwords as argon2id. A token is shown once, when made.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row

from tandem.audit.service import FAILED, AuditLog
from tandem.core.auth import Action, Authorizer, Principal, PrincipalKind, Role
from tandem.core.clock import now_ms
from tandem.core.paging import DEFAULT_LIMIT, Page, check_limit, decode_cursor, encode_cursor
from tandem.core.validation import check_text, check_user_name
from tandem.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthenticated
from tandem.identity.models import (
    Me,
    Member,
    MemberSet,
    PasswordChange,
    Token,
    TokenCreate,
    TokenCreated,
    User,
    UserCreate,
)
from tandem.identity.passwords import check_password
from tandem.identity.store import IdentityStore, token_model, user_model
from tandem.projects.service import ProjectService
from tandem.store.db import Database

TOKEN_PREFIX = "tdm_"
SESSION_HOURS = 12
LOGIN_WINDOW_MS = 15 * 60 * 1000
# Failed sign-ins per user name *and* source address per window before refusing more: counting
# per name alone would let anyone lock a user out by trying their name from anywhere.
LOGIN_ATTEMPTS = 5

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so they take as long as known ones; made on
    first use (hashing costs ~0.1 s, which every CLI start-up would otherwise pay)."""
    return _hasher.hash("not a real password, used to even out timing")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: who, and the token its forms must echo back (CSRF)."""

    principal: Principal
    csrf_token: str


class IdentityService:
    def __init__(
        self,
        db: Database,
        store: IdentityStore,
        projects: ProjectService,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.auth = auth
        self.audit = audit
        self._has_users = False  # sticky: users are disabled, never deleted
        self._users_checked_at = -1e9

    # -- who is calling ---------------------------------------------------------------------

    def has_users(self) -> bool:
        """Whether sign-in is configured (any user exists). Once true it stays true; while
        false it is asked again at most once a second, so an open loopback server does not
        pay a query per request and still closes within a second of the first user."""
        known = self.has_users_cached()
        if known is not None:
            return known
        with self.db.read() as conn:
            self._has_users = self.store.any_user(conn)
        self._users_checked_at = time.monotonic()
        return self._has_users

    def has_active_admin(self) -> bool:
        """Whether an active admin user exists: someone could sign in and manage the
        workspace (the CLI asks before it listens beyond loopback)."""
        with self.db.read() as conn:
            return self.store.any_active_admin(conn)

    def has_users_cached(self) -> bool | None:
        """`has_users()` if it needs no query (the hot path of every request), else None."""
        if self._has_users:
            return True
        if time.monotonic() - self._users_checked_at <= 1.0:
            return False
        return None

    def _principal(
        self, conn: Connection, user_pk: int, name: str, role: str, via: str, source: str
    ) -> Principal:
        return Principal(
            name=name,
            kind=PrincipalKind.USER,
            user_pk=user_pk,
            is_admin=role == Role.ADMIN.value,
            roles=self.projects.roles_of(conn, user_pk),
            source=source,
            via=via,
        )

    def principal_for_token(self, secret: str, source: str) -> Principal:
        """The user an API token belongs to.

        Raises:
            Unauthenticated: the token is unknown, expired or revoked, or its user disabled.
        """
        now = now_ms()
        with self.db.read() as conn:
            row = self.store.token_by_hash(conn, secret_hash(secret))
            if (
                row is None
                or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
                or row.disabled is not None
            ):
                raise Unauthenticated("the API token is invalid, expired or revoked")
            principal = self._principal(
                conn, row.user_pk, row.user_name, row.user_role, "token", source
            )
        if row.last_used_at is None or now - row.last_used_at > 60_000:  # at most once a minute
            with self.db.write() as conn:
                self.store.update_token(conn, row.pk, last_used_at=now)
        return principal

    def session(self, session_id: str, source: str) -> WebSession | None:
        """The signed-in browser behind a session cookie, or None if it is not (any more)."""
        with self.db.read() as conn:
            row = self.store.session_row(conn, secret_hash(session_id))
            if row is None or row.expires_at <= now_ms() or row.disabled is not None:
                return None
            principal = self._principal(
                conn, row.user_pk, row.user_name, row.user_role, "session", source
            )
            return WebSession(principal, row.csrf_token)

    def me(self, principal: Principal) -> Me:
        self.auth.require(principal, Action.ACCOUNT)
        return Me(
            name=principal.name,
            kind=principal.kind.value,
            is_admin=principal.is_superuser,
            via=principal.via,
            roles=dict(principal.roles),
        )

    # -- sign-in ------------------------------------------------------------------------------

    def login(self, name: str, password: str, source: str) -> tuple[str, WebSession]:
        """Check a password and open a session: (session id for the cookie, the session).

        Raises:
            RateLimited: too many failed attempts for this user name from `source` lately
                (the same name from another address is not held back).
            Unauthenticated: wrong name or password (the message does not say which).
        """
        anonymous = Principal.anonymous(source)
        name = name.strip()[:64]
        recent = self.audit.failed_sign_ins(name, source, now_ms() - LOGIN_WINDOW_MS)
        if recent >= LOGIN_ATTEMPTS:
            self.audit.record_alone(anonymous, "auth.login", name, outcome="denied", reason="rate")
            raise RateLimited(
                f"too many failed sign-ins for {name!r} from {source}; try again in "
                f"{LOGIN_WINDOW_MS // 60_000} minutes"
            )
        with self.db.read() as conn:
            row = self.store.find_user(conn, name)
        stored = row.password_hash if row is not None else None
        try:
            _hasher.verify(stored or _dummy_hash(), password)
            ok = stored is not None and row is not None and row.disabled_at is None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None:
            self.audit.record_alone(anonymous, "auth.login", name, outcome=FAILED)
            raise Unauthenticated("wrong user name or password")
        with self.db.write() as conn:
            if _hasher.check_needs_rehash(stored or ""):
                self.store.update_user(conn, row.pk, password_hash=_hasher.hash(password))
            return self._open_session(conn, row, source, "password")

    def login_external(
        self,
        name: str,
        source: str,
        *,
        provider: str,
        create_as: Role | None = None,
        display_name: str = "",
        email: str = "",
    ) -> tuple[str, WebSession]:
        """Open a session for a user an identity provider vouched for (see `oidc`). A user
        who does not exist yet is created with role `create_as`, or refused without one.

        Raises:
            Unauthenticated: the user does not exist (and may not be created) or is disabled.
        """
        anonymous = Principal.anonymous(source)
        try:
            name = check_user_name(name)
        except InvalidInput:
            self.audit.record_alone(anonymous, "auth.login", name[:64], outcome=FAILED)
            raise Unauthenticated(
                f"{provider} names you {name!r}, which is not a valid tandem user name"
            ) from None
        with self.db.write() as conn:
            row = self.store.find_user(conn, name)
            if row is None and create_as is not None:
                self.store.create_user(
                    conn,
                    name=name,
                    display_name=display_name[:250],
                    email=email[:320],
                    role=create_as.value,
                    created_at=now_ms(),
                )
                self.audit.record(
                    conn, anonymous, "user.create", name, role=create_as.value, via=provider
                )
                row = self.store.user_row(conn, name)
                self._has_users = True
        if row is None or row.disabled_at is not None:
            self.audit.record_alone(anonymous, "auth.login", name, outcome=FAILED, via=provider)
            raise Unauthenticated(
                f"{name} is not a tandem user here (or is disabled): ask an admin to add you"
            )
        with self.db.write() as conn:
            return self._open_session(conn, row, source, provider)

    def _open_session(
        self, conn: Connection, row: Row[Any], source: str, method: str
    ) -> tuple[str, WebSession]:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = now_ms()
        self.store.create_session(
            conn,
            id_hash=secret_hash(session_id),
            user_pk=row.pk,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_HOURS * 3_600_000,
        )
        principal = self._principal(conn, row.pk, row.name, row.role, "session", source)
        self.audit.record(conn, principal, "auth.login", row.name, method=method)
        return session_id, WebSession(principal, csrf)

    def logout(self, principal: Principal, session_id: str) -> None:
        with self.db.write() as conn:
            self.store.delete_session(conn, secret_hash(session_id))
            self.audit.record(conn, principal, "auth.logout", principal.name)

    def change_password(self, principal: Principal, data: PasswordChange) -> None:
        """Change your own password; every other session of yours is signed out.

        Raises:
            InvalidInput: the current password is wrong, or the new one breaks the policy
                (`tandem.identity.passwords`).
        """
        self.auth.require(principal, Action.ACCOUNT)
        if principal.user_pk is None:
            raise InvalidInput("only a signed-in user has a password to change")
        check_password(data.new_password, principal.name)
        with self.db.read() as conn:
            row = self.store.user_by_pk(conn, principal.user_pk)
        try:
            _hasher.verify(row.password_hash or _dummy_hash(), data.current_password)
        except (VerificationError, InvalidHashError):
            self.audit.record_alone(principal, "user.password", principal.name, outcome=FAILED)
            raise InvalidInput("the current password is wrong; nothing changed") from None
        with self.db.write() as conn:
            self.store.update_user(conn, row.pk, password_hash=_hasher.hash(data.new_password))
            self.store.delete_sessions_of(conn, row.pk)
            self.audit.record(conn, principal, "user.password", principal.name)

    # -- users ------------------------------------------------------------------------------

    def create_user(self, principal: Principal, data: UserCreate) -> User:
        """Add a user (workspace admins, or the owner of the workspace)."""
        self.auth.require(principal, Action.ADMIN)
        name = check_user_name(data.name)
        display = check_text(data.display_name, "display name", 250)
        email = check_text(data.email, "email", 320)
        password = check_password(data.password, name) if data.password else None
        password_hash = _hasher.hash(password) if password else None
        with self.db.write() as conn:
            self.store.create_user(
                conn,
                name=name,
                display_name=display,
                email=email,
                role=data.role.value,
                password_hash=password_hash,
                created_at=now_ms(),
            )
            self.audit.record(conn, principal, "user.create", name, role=data.role.value)
            row = self.store.user_row(conn, name)
        self._has_users = True
        return user_model(row)

    def list_users(
        self, principal: Principal, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> Page[User]:
        self.auth.require(principal, Action.ADMIN)
        limit = check_limit(limit)
        after = str(decode_cursor(cursor)[0]) if cursor else None
        with self.db.read() as conn:
            rows = self.store.list_users(conn, after, limit)
        items = [user_model(row) for row in rows[:limit]]
        next_cursor = encode_cursor([items[-1].name]) if len(rows) > limit else None
        return Page[User](items=items, next_cursor=next_cursor)

    def get_user(self, principal: Principal, name: str) -> User:
        if principal.name != name or principal.user_pk is None:
            self.auth.require(principal, Action.ADMIN)
        with self.db.read() as conn:
            return user_model(self.store.user_row(conn, name))

    def set_user_disabled(self, principal: Principal, name: str, disabled: bool) -> User:
        """Disable a user (their tokens and sessions stop working at once) or enable them."""
        self.auth.require(principal, Action.ADMIN)
        with self.db.write() as conn:
            row = self.store.user_row(conn, name)
            if disabled and row.role == Role.ADMIN.value and row.disabled_at is None:
                others = self.store.any_active_admin_besides(conn, row.pk)
                if not others and not principal.is_workspace_owner:
                    raise Conflict(f"{name} is the last active admin; make another admin first")
            self.store.update_user(conn, row.pk, disabled_at=now_ms() if disabled else None)
            if disabled:
                self.store.delete_sessions_of(conn, row.pk)
            action = "user.disable" if disabled else "user.enable"
            self.audit.record(conn, principal, action, name)
            return user_model(self.store.user_row(conn, name))

    # -- tokens -----------------------------------------------------------------------------

    def create_token(self, principal: Principal, data: TokenCreate) -> TokenCreated:
        """Make an API token for yourself (or, as an admin, for `data.user`)."""
        self.auth.require(principal, Action.ACCOUNT)
        owner_name = data.user or (principal.name if principal.user_pk is not None else None)
        if owner_name is None:
            raise InvalidInput("say whose token it is: --user NAME")
        if owner_name != principal.name or principal.user_pk is None:
            self.auth.require(principal, Action.ADMIN)
        name = check_text(data.name, "token name", 250)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = now_ms()
        token_id = "tok_" + secrets.token_hex(6)
        lifetime = data.lifetime_seconds()
        expires = now + lifetime * 1000 if lifetime is not None else None
        with self.db.write() as conn:
            user = self.store.user_row(conn, owner_name)
            if user.disabled_at is not None:
                raise Conflict(f"user {owner_name!r} is disabled")
            self.store.create_token(
                conn,
                id=token_id,
                user_pk=user.pk,
                name=name,
                secret_hash=secret_hash(secret),
                created_at=now,
                expires_at=expires,
            )
            self.audit.record(conn, principal, "token.create", token_id, user=owner_name)
            row = self.store.token_row(conn, token_id)
        return TokenCreated(token=token_model(row, owner_name), secret=secret)

    def list_tokens(self, principal: Principal, user: str | None = None) -> list[Token]:
        """Your tokens; an admin may ask for anyone's (`user`) or everyone's (`user="*"`)."""
        self.auth.require(principal, Action.ACCOUNT)
        if user is None and principal.user_pk is None:
            user = "*"
        if user is not None and user != principal.name:
            self.auth.require(principal, Action.ADMIN)
        with self.db.read() as conn:
            if user == "*":
                user_pk = None
            elif user is None:
                user_pk = principal.user_pk
            else:
                user_pk = self.store.user_row(conn, user).pk
            rows = self.store.list_tokens(conn, user_pk)
        return [token_model(row, row.user_name) for row in rows]

    def revoke_token(self, principal: Principal, token_id: str) -> Token:
        """Revoke a token of yours (admins: anyone's); someone else's is not found."""
        self.auth.require(principal, Action.ACCOUNT)
        with self.db.write() as conn:
            row = self.store.token_row(conn, token_id)  # NotFound when there is none
            if row.user_pk != principal.user_pk and not principal.may(Action.ADMIN):
                raise NotFound(f"token {token_id!r} does not exist")  # same answer: not yours
            if row.revoked_at is None:
                self.store.update_token(conn, row.pk, revoked_at=now_ms())
                self.audit.record(conn, principal, "token.revoke", token_id, user=row.user_name)
            row = self.store.token_row(conn, token_id)
        return token_model(row, row.user_name)

    # -- project membership -------------------------------------------------------------------

    def list_members(self, principal: Principal, project: str) -> list[Member]:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MEMBERS_READ)
            return self.members_in(conn, project_pk)

    def set_member(self, principal: Principal, project: str, data: MemberSet) -> Member:
        """Add a user to a project, or change their role in it."""
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MEMBERS_WRITE)
            user = self.store.user_row(conn, data.user)
            role = data.role or Role(user.role)
            self._keep_an_admin(conn, project_pk, user.pk, role)
            self.projects.set_member(conn, project_pk, user.pk, role, now_ms())
            self.audit.record(
                conn, principal, "member.set", data.user, project=project, role=role.value
            )
            return next(m for m in self.members_in(conn, project_pk) if m.user == data.user)

    def remove_member(self, principal: Principal, project: str, user: str) -> None:
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MEMBERS_WRITE)
            row = self.store.user_row(conn, user)
            self._keep_an_admin(conn, project_pk, row.pk, None)
            if not self.projects.remove_member(conn, project_pk, row.pk):
                raise NotFound(f"{user} is not a member of {project}")
            self.audit.record(conn, principal, "member.remove", user, project=project)

    def _keep_an_admin(
        self, conn: Connection, project_pk: int, user_pk: int, new_role: Role | None
    ) -> None:
        """A project keeps at least one admin member, so someone can always manage it."""
        if new_role is Role.ADMIN:
            return
        admins = {m.user for m in self.members_in(conn, project_pk) if m.role is Role.ADMIN}
        name = self.store.user_by_pk(conn, user_pk).name
        if admins == {name}:
            raise Conflict(f"{name} is the project's last admin; make another member admin first")

    # -- for other domains, in the caller's transaction ----------------------------------------

    def member_names_in(self, conn: Connection, project_pk: int) -> set[str]:
        """The names of project `project_pk`'s members, with NO permission check: for callers
        that checked the principal's access to the project already."""
        return {m.user for m in self.members_in(conn, project_pk)}

    def members_in(self, conn: Connection, project_pk: int) -> list[Member]:
        """The members of a project by user name, inside the caller's transaction. No
        permission check: the caller has checked (e.g. through `ProjectService.access`)."""
        rows = {
            user_pk: (role, since)
            for user_pk, role, since in self.projects.members(conn, project_pk)
        }
        names = self.store.names_by_pk(conn, rows)  # in the order of names
        return [
            Member(user=name, role=rows[user_pk][0], created_at=rows[user_pk][1])
            for user_pk, name in names.items()
        ]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
