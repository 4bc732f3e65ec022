"""IdentityStore: typed queries over users, tokens and sessions. No rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from tandem.core.auth import Role
from tandem.errors import AlreadyExists, NotFound
from tandem.identity.models import Token, User
from tandem.identity.tables import sessions, tokens, users


def user_model(row: Row[Any]) -> User:
    return User(
        name=row.name,
        display_name=row.display_name,
        email=row.email,
        role=Role(row.role),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        has_password=row.password_hash is not None,
    )


def token_model(row: Row[Any], user: str) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        user=user,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


# Who a token or session belongs to, read in the same query: every authenticated request asks.
_OWNER_COLUMNS = (
    users.c.name.label("user_name"),
    users.c.role.label("user_role"),
    users.c.disabled_at.label("disabled"),
)


class IdentityStore:
    # -- users ------------------------------------------------------------------------------

    def create_user(self, conn: Connection, **values: Any) -> int:
        try:
            with conn.begin_nested():
                result = conn.execute(insert(users).values(**values))
        except SQLIntegrityError:
            raise AlreadyExists(f"user {values['name']!r} already exists") from None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def user_row(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} does not exist")
        return row

    def find_user(self, conn: Connection, name: str) -> Row[Any] | None:
        return conn.execute(select(users).where(users.c.name == name)).first()

    def user_by_pk(self, conn: Connection, pk: int) -> Row[Any]:
        return conn.execute(select(users).where(users.c.pk == pk)).one()

    def list_users(self, conn: Connection, after: str | None, limit: int) -> list[Row[Any]]:
        query = select(users).order_by(users.c.name).limit(limit + 1)
        if after is not None:
            query = query.where(users.c.name > after)
        return list(conn.execute(query).all())

    def any_user(self, conn: Connection) -> bool:
        return conn.execute(select(users.c.pk).limit(1)).first() is not None

    def any_active_admin(self, conn: Connection) -> bool:
        query = select(users.c.pk).where(
            users.c.role == Role.ADMIN.value, users.c.disabled_at.is_(None)
        )
        return conn.execute(query.limit(1)).first() is not None

    def any_active_admin_besides(self, conn: Connection, user_pk: int) -> bool:
        query = select(users.c.pk).where(
            users.c.role == Role.ADMIN.value, users.c.disabled_at.is_(None), users.c.pk != user_pk
        )
        return conn.execute(query.limit(1)).first() is not None

    def update_user(self, conn: Connection, pk: int, **values: Any) -> None:
        conn.execute(update(users).where(users.c.pk == pk).values(**values))

    # -- tokens -----------------------------------------------------------------------------

    def create_token(self, conn: Connection, **values: Any) -> None:
        conn.execute(insert(tokens).values(**values))

    def token_by_hash(self, conn: Connection, secret_hash: str) -> Row[Any] | None:
        query = (
            select(tokens, *_OWNER_COLUMNS)
            .join(users, users.c.pk == tokens.c.user_pk)
            .where(tokens.c.secret_hash == secret_hash)
        )
        return conn.execute(query).first()

    def token_row(self, conn: Connection, token_id: str) -> Row[Any]:
        query = (
            select(tokens, users.c.name.label("user_name"))
            .join(users, users.c.pk == tokens.c.user_pk)
            .where(tokens.c.id == token_id)
        )
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"token {token_id!r} does not exist")
        return row

    def list_tokens(self, conn: Connection, user_pk: int | None) -> list[Row[Any]]:
        query = (
            select(tokens, users.c.name.label("user_name"))
            .join(users, users.c.pk == tokens.c.user_pk)
            .order_by(tokens.c.created_at.desc(), tokens.c.pk.desc())
        )
        if user_pk is not None:
            query = query.where(tokens.c.user_pk == user_pk)
        return list(conn.execute(query).all())

    def update_token(self, conn: Connection, pk: int, **values: Any) -> None:
        conn.execute(update(tokens).where(tokens.c.pk == pk).values(**values))

    # -- sessions ---------------------------------------------------------------------------

    def create_session(self, conn: Connection, **values: Any) -> None:
        conn.execute(insert(sessions).values(**values))

    def session_row(self, conn: Connection, id_hash: str) -> Row[Any] | None:
        query = (
            select(sessions, *_OWNER_COLUMNS)
            .join(users, users.c.pk == sessions.c.user_pk)
            .where(sessions.c.id_hash == id_hash)
        )
        return conn.execute(query).first()

    def delete_session(self, conn: Connection, id_hash: str) -> None:
        conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))

    def delete_sessions_of(self, conn: Connection, user_pk: int) -> None:
        conn.execute(delete(sessions).where(sessions.c.user_pk == user_pk))

    # -- names of members -------------------------------------------------------------------

    def names_by_pk(self, conn: Connection, user_pks: Iterable[int]) -> dict[int, str]:
        """The names of these users, by pk, in the database's order of names."""
        wanted = sorted(set(user_pks))
        if not wanted:
            return {}
        query = (
            select(users.c.pk, users.c.name).where(users.c.pk.in_(wanted)).order_by(users.c.name)
        )
        return {row.pk: row.name for row in conn.execute(query)}
