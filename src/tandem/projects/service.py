"""ProjectService: every rule about projects and who may act in them. The only way in.

Projects own their memberships (who holds which role in a project): a project is the unit of
permission, creating one makes its creator its admin and purging one takes its memberships with
it, all in this domain. Identity (users, tokens, sessions) sits above: it asks `roles_of` when it
turns a token into a `Principal`, and manages members through the methods that take a `conn`.
Projects import neither identity nor tracking (a project's run count is tracking's answer, wired
in by the container as `run_count`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal, Role
from tandem.core.clock import now_ms
from tandem.core.paging import DEFAULT_LIMIT, Page, check_limit, decode_cursor
from tandem.core.validation import check_project_name, check_text
from tandem.errors import AlreadyExists, Conflict, NotFound
from tandem.projects.models import Project, ProjectCreate
from tandem.projects.store import ProjectStore
from tandem.store.db import Database

RunCount = Callable[[Connection, int], int]
"""How many runs (not deleted) a project has, by its pk, in the caller's transaction."""


class ProjectService:
    def __init__(
        self,
        db: Database,
        store: ProjectStore,
        auth: Authorizer,
        audit: AuditLog,
        run_count: RunCount,
    ) -> None:
        self.db = db
        self.store = store
        self.auth = auth
        self.audit = audit
        self.run_count = run_count

    def _create(self, conn: Connection, principal: Principal, name: str, description: str) -> int:
        """Insert the project, make its creator its admin, and record it."""
        pk = self.store.create(conn, name, description, now_ms())
        if principal.user_pk is not None:
            self.store.set_member(conn, pk, principal.user_pk, Role.ADMIN, now_ms())
        self.audit.record(conn, principal, "project.create", name, project=name)
        return pk

    def create(self, principal: Principal, data: ProjectCreate) -> Project:
        """Create a project; its creator becomes its admin.

        Raises:
            InvalidInput: the name is not a valid project name.
            AlreadyExists: a project (possibly deleted, see `restore`) has this name; to a
                caller who cannot see that project, only that the name is not available.
        """
        return self.create_with_pk(principal, data)[1]

    def create_with_pk(self, principal: Principal, data: ProjectCreate) -> tuple[int, Project]:
        """`create`, with the new project's primary key (the MLflow face's experiment id)."""
        self.auth.require(principal, Action.PROJECT_CREATE)
        name = check_project_name(data.name)
        check_text(data.description, "description", 10_000)
        with self.db.write() as conn:
            self.refuse_hidden(conn, principal, name)
            pk = self._create(conn, principal, name, data.description)
        return pk, self._get(name)

    def refuse_hidden(self, conn: Connection, principal: Principal, name: str) -> None:
        """Creating `name` when a project the principal may not see holds it: the answer
        names neither the project nor its state. Project names are one namespace, so a taken
        name cannot be hidden from someone who wants it; this is the least an answer says
        (as a taken user name on GitHub), and the same from every face and every way of
        creating (`projects create`, `start_run`, `data add`)."""
        if self.store.find(conn, name) is not None and not principal.may(Action.PROJECT_READ, name):
            raise AlreadyExists(f"the project name {name!r} is not available: choose another")

    def access(self, conn: Connection, principal: Principal, name: str, action: Action) -> int:
        """The authorisation seam every domain uses: check that `principal` may perform
        `action` in project `name` (permission before state), then resolve its pk inside the
        caller's transaction. A missing or deleted project is NotFound."""
        self.auth.require(principal, action, name)
        return self.store.get_pk(conn, name)

    def pk_for_write(
        self, conn: Connection, principal: Principal, name: str, action: Action, *, create: bool
    ) -> int:
        """The pk of project `name` inside the caller's write transaction, once `principal`
        may perform `action` in it; with `create`, a missing project is created first (and its
        creator, its admin, may). A deleted project is not found: restore it."""
        check_project_name(name)
        found = self.store.find(conn, name)
        if found is not None and create:  # not "does not exist" where a missing one is made
            self.refuse_hidden(conn, principal, name)
        if found is None and create:
            self.auth.require(principal, Action.PROJECT_CREATE)
            try:
                return self._create(conn, principal, name, "")
            except AlreadyExists:
                found = self.store.find(conn, name)  # created since we looked: use it
        self.auth.require(principal, action, name)
        if found is None or found[1]:
            return self.store.get_pk(conn, name)  # raises NotFound, naming a deleted project
        return found[0]

    def get(self, principal: Principal, name: str) -> Project:
        self.auth.require(principal, Action.PROJECT_READ, name)
        return self._get(name)

    def _get(self, name: str, *, include_deleted: bool = False) -> Project:
        """The project with its run count, in a transaction of its own."""
        with self.db.read() as conn:
            pk, project = self.store.get(conn, name, include_deleted=include_deleted)
            return project.model_copy(update={"run_count": self.run_count(conn, pk)})

    def get_by_pk(
        self, principal: Principal, pk: int, *, include_deleted: bool = False
    ) -> tuple[int, Project]:
        """The project with primary key `pk` (a stable number: the MLflow face's experiment id)
        and that pk, without its run count, if `principal` may read it; a project they may not
        read is not found, as one that does not exist (the name is read first: the permission
        names the project).

        Raises:
            NotFound: no such project (or a deleted one, unless `include_deleted`).
        """
        self.auth.require(principal, Action.ACCOUNT)  # anyone signed in; no lookup before
        with self.db.read() as conn:
            name = self.store.names(conn, {pk}).get(pk)
            if name is None:
                raise NotFound(f"project number {pk} does not exist")
            self.auth.require(principal, Action.PROJECT_READ, name, hidden=f"project number {pk}")
            return self.store.get(conn, name, include_deleted=include_deleted)

    def get_with_pk(
        self, principal: Principal, name: str, *, include_deleted: bool = False
    ) -> tuple[int, Project]:
        """`get`, with the project's primary key (the MLflow face's experiment id), without
        its run count (which costs a count of its runs)."""
        self.auth.require(principal, Action.PROJECT_READ, name)
        with self.db.read() as conn:
            return self.store.get(conn, name, include_deleted=include_deleted)

    def pks_of(self, principal: Principal, names: builtins.list[str]) -> dict[str, int]:
        """name -> primary key of those of these projects (deleted ones too) that `principal`
        may read; the others are left out."""
        self.auth.require(principal, Action.ACCOUNT)
        readable = [n for n in names if principal.may(Action.PROJECT_READ, n)]
        with self.db.read() as conn:
            found = {n: self.store.find(conn, n) for n in readable}
        return {n: f[0] for n, f in found.items() if f is not None}

    def list(
        self,
        principal: Principal,
        *,
        include_deleted: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[Project]:
        """The projects the caller may open, by name."""
        self.auth.require(principal, Action.ACCOUNT)  # anyone signed in
        after = str(decode_cursor(cursor)[0]) if cursor else None
        return self.store.list(
            include_deleted=include_deleted,
            after=after,
            limit=check_limit(limit),
            only=self.auth.readable_projects(principal),
        )

    def delete(self, principal: Principal, name: str) -> Project:
        """Soft-delete a project: it and its runs disappear from lists until restored or
        purged by `tandem gc`."""
        self.auth.require(principal, Action.PROJECT_DELETE, name)
        with self.db.write() as conn:
            pk = self.store.get_pk(conn, name)
            self.store.set_deleted(conn, pk, now_ms())
            self.audit.record(conn, principal, "project.delete", name, project=name)
        return self._get(name, include_deleted=True)

    def restore(self, principal: Principal, name: str) -> Project:
        self.auth.require(principal, Action.PROJECT_DELETE, name)
        with self.db.write() as conn:
            pk = self.store.find_pk(conn, name, include_deleted=True)
            if pk is None:
                raise NotFound(f"project {name!r} does not exist (it may have been purged)")
            if self.store.find_pk(conn, name) is not None:
                raise Conflict(f"project {name!r} is not deleted")
            self.store.set_deleted(conn, pk, None)
            self.audit.record(conn, principal, "project.restore", name, project=name)
        return self._get(name)

    # -- for other domains, inside their transaction ----------------------------------------
    # No permission check in these: the caller has checked (most through `access`).

    def pk_in(self, conn: Connection, name: str) -> int:
        """The pk of live project `name`, with NO permission check: for callers that checked
        the principal's access already (NotFound if it is missing or deleted)."""
        return self.store.get_pk(conn, name)

    def live_names_in(self, conn: Connection) -> dict[int, str]:
        """pk -> name of every project that is not deleted, with NO permission check: the
        caller filters what the principal may read."""
        return dict(self.store.all_names(conn))

    def find_pk_in(self, conn: Connection, name: str) -> int | None:
        """The pk of live project `name`, or None if it is missing or deleted, with NO
        permission check: for a caller that decides what a missing project means (the data
        domain creates it, or refuses, once it has checked the principal)."""
        return self.store.find_pk(conn, name)

    def names(self, conn: Connection, pks: set[int]) -> dict[int, str]:
        """{pk: name} of the projects among `pks` (deleted ones too), for a domain that keeps
        rows across projects (a member's notifications). No permission check: the caller
        filters what its principal may read."""
        return self.store.names(conn, pks)

    def roles_of(self, conn: Connection, user_pk: int) -> dict[str, Role]:
        """The user's role in each project they are a member of (deleted projects too, so their
        admins can restore them): what a `Principal` carries."""
        return self.store.roles_of(conn, user_pk)

    def members(self, conn: Connection, project_pk: int) -> builtins.list[tuple[int, Role, int]]:
        """(user pk, role, member since) of each member of the project, in no order."""
        return self.store.members(conn, project_pk)

    def set_member(
        self, conn: Connection, project_pk: int, user_pk: int, role: Role, now: int
    ) -> None:
        """Make the user a member of the project with `role` (or change their role)."""
        self.store.set_member(conn, project_pk, user_pk, role, now)

    def remove_member(self, conn: Connection, project_pk: int, user_pk: int) -> bool:
        """Remove the user from the project; False if they were not a member."""
        return self.store.remove_member(conn, project_pk, user_pk)

    def deleted_before(self, conn: Connection, cutoff: int) -> builtins.list[tuple[int, str]]:
        """(pk, name) of the projects deleted at or before `cutoff` (ms): gc's to purge."""
        return self.store.list_deleted_before(conn, cutoff)

    def purge(self, conn: Connection, project_pk: int) -> None:
        """Delete the project and its memberships for good (gc, once every domain has purged
        the project's rows)."""
        self.store.purge(conn, project_pk)
