"""ProjectStore: typed queries over the projects and memberships tables. No rules or permissions."""

from __future__ import annotations

import builtins

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from tandem.core.auth import Role
from tandem.core.paging import Page, encode_cursor
from tandem.errors import AlreadyExists, NotFound
from tandem.projects.models import Project
from tandem.projects.tables import memberships, projects
from tandem.store.db import Database, driver_cursor


def _to_model(row: object, run_count: int | None = None) -> Project:
    return Project(
        name=row.name,  # type: ignore[attr-defined]
        description=row.description,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        deleted_at=row.deleted_at,  # type: ignore[attr-defined]
        run_count=run_count,
    )


class ProjectStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, conn: Connection, name: str) -> tuple[int, bool] | None:
        """(pk, deleted) of the project with this name, deleted or not; None if there is none."""
        cursor = driver_cursor(conn)  # on the path of every run's creation
        try:
            cursor.execute(
                f"SELECT pk, deleted_at FROM projects WHERE name = {self.db.placeholder}", (name,)
            )
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else (int(row[0]), row[1] is not None)

    def find_pk(self, conn: Connection, name: str, *, include_deleted: bool = False) -> int | None:
        found = self.find(conn, name)
        if found is None or (found[1] and not include_deleted):
            return None
        return found[0]

    def get_pk(self, conn: Connection, name: str, *, include_deleted: bool = False) -> int:
        pk = self.find_pk(conn, name, include_deleted=include_deleted)
        if pk is None:
            raise NotFound(f"project {name!r} does not exist", project=name)
        return pk

    def get(
        self, conn: Connection, name: str, *, include_deleted: bool = False
    ) -> tuple[int, Project]:
        """The project's pk and model (without its run count: the service adds it)."""
        query = select(projects).where(projects.c.name == name)
        if not include_deleted:
            query = query.where(projects.c.deleted_at.is_(None))
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"project {name!r} does not exist", project=name)
        return row.pk, _to_model(row)

    def create(self, conn: Connection, name: str, description: str, now: int) -> int:
        try:
            with conn.begin_nested():
                result = conn.execute(
                    insert(projects).values(name=name, description=description, created_at=now)
                )
        except SQLIntegrityError:
            raise AlreadyExists(f"project {name!r} already exists", project=name) from None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list(
        self,
        *,
        include_deleted: bool,
        after: str | None,
        limit: int,
        only: frozenset[str] | None = None,
    ) -> Page[Project]:
        """Projects by name; `only` limits them to these names (None: all)."""
        query = select(projects).order_by(projects.c.name).limit(limit + 1)
        if only is not None:
            query = query.where(projects.c.name.in_(sorted(only)))
        if not include_deleted:
            query = query.where(projects.c.deleted_at.is_(None))
        if after is not None:
            query = query.where(projects.c.name > after)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        items = [_to_model(row) for row in rows[:limit]]
        cursor = encode_cursor([items[-1].name]) if len(rows) > limit else None
        return Page[Project](items=items, next_cursor=cursor)

    def all_names(self, conn: Connection) -> builtins.list[tuple[int, str]]:
        """(pk, name) of every project that is not deleted."""
        rows = conn.execute(
            select(projects.c.pk, projects.c.name).where(projects.c.deleted_at.is_(None))
        ).all()
        return [(row.pk, row.name) for row in rows]

    def set_deleted(self, conn: Connection, pk: int, deleted_at: int | None) -> None:
        conn.execute(update(projects).where(projects.c.pk == pk).values(deleted_at=deleted_at))

    def list_deleted_before(self, conn: Connection, cutoff: int) -> builtins.list[tuple[int, str]]:
        rows = conn.execute(
            select(projects.c.pk, projects.c.name).where(
                projects.c.deleted_at.is_not(None), projects.c.deleted_at <= cutoff
            )
        ).all()
        return [(row.pk, row.name) for row in rows]

    def purge(self, conn: Connection, pk: int) -> None:
        """Delete the project and its memberships, for good."""
        conn.execute(delete(memberships).where(memberships.c.project_pk == pk))
        conn.execute(projects.delete().where(projects.c.pk == pk))

    def names(self, conn: Connection, pks: builtins.set[int]) -> dict[int, str]:
        """{pk: name} of the projects among `pks`, deleted ones too."""
        if not pks:
            return {}
        rows = conn.execute(
            select(projects.c.pk, projects.c.name).where(projects.c.pk.in_(sorted(pks)))
        ).all()
        return {row.pk: row.name for row in rows}

    # -- memberships ------------------------------------------------------------------------

    def roles_of(self, conn: Connection, user_pk: int) -> dict[str, Role]:
        """The user's role in each project (deleted ones too, so their admins can restore them)."""
        query = (
            select(projects.c.name, memberships.c.role)
            .join(projects, projects.c.pk == memberships.c.project_pk)
            .where(memberships.c.user_pk == user_pk)
        )
        return {row.name: Role(row.role) for row in conn.execute(query)}

    def set_member(
        self, conn: Connection, project_pk: int, user_pk: int, role: Role, now: int
    ) -> None:
        changed = conn.execute(
            update(memberships)
            .where(memberships.c.project_pk == project_pk, memberships.c.user_pk == user_pk)
            .values(role=role.value)
        ).rowcount
        if not changed:
            conn.execute(
                insert(memberships).values(
                    project_pk=project_pk, user_pk=user_pk, role=role.value, created_at=now
                )
            )

    def remove_member(self, conn: Connection, project_pk: int, user_pk: int) -> bool:
        result = conn.execute(
            delete(memberships).where(
                memberships.c.project_pk == project_pk, memberships.c.user_pk == user_pk
            )
        )
        return bool(result.rowcount)

    def members(self, conn: Connection, project_pk: int) -> builtins.list[tuple[int, Role, int]]:
        """(user pk, role, member since) of each member of the project."""
        query = select(memberships.c.user_pk, memberships.c.role, memberships.c.created_at).where(
            memberships.c.project_pk == project_pk
        )
        return [(row.user_pk, Role(row.role), row.created_at) for row in conn.execute(query)]
