"""Finding what a data operation acts on, once the caller may: the project (through
`ProjectService.access`, the one project-access seam), the dataset and the version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.refs import DatasetRef, parse_dataset_ref
from tandem.data.store import DatasetStore
from tandem.errors import InvalidInput, NotFound
from tandem.projects.service import ProjectService


@dataclass(frozen=True, slots=True)
class Target:
    """A dataset the caller may act on."""

    project: str
    project_pk: int
    dataset_pk: int
    name: str


class DatasetAccess:
    def __init__(self, store: DatasetStore, projects: ProjectService, auth: Authorizer) -> None:
        self.store = store
        self.projects = projects
        self.auth = auth

    def project(self, conn: Connection, principal: Principal, project: str, action: Action) -> int:
        """The pk of `project` once `principal` may perform `action` in it."""
        return self.projects.access(conn, principal, project, action)

    def project_for_write(
        self, conn: Connection, principal: Principal, project: str, *, create: bool
    ) -> int:
        """The pk of `project` once `principal` may write data there; with `create`, a missing
        project is created first (if the principal may create projects)."""
        return self.projects.pk_for_write(
            conn, principal, project, Action.DATA_WRITE, create=create
        )

    def check_write(
        self, conn: Connection, principal: Principal, project: str, *, create: bool
    ) -> None:
        """Raise unless `principal` may write data in `project` or, with `create` and no
        such project, may create it (the write transaction asks `project_for_write` again)."""
        if self.projects.find_pk_in(conn, project) is None and create:
            self.auth.require(principal, Action.PROJECT_CREATE)
        else:
            if create:  # one that exists but is not the caller's: as `projects create` says
                self.auth.require(principal, Action.PROJECT_CREATE)
                self.projects.refuse_hidden(conn, principal, project)
            self.project(conn, principal, project, Action.DATA_WRITE)

    def find_project(self, conn: Connection, project: str) -> int | None:
        """The pk of `project`, None if there is none. No permission check."""
        return self.projects.find_pk_in(conn, project)

    def readable_projects(self, conn: Connection, principal: Principal) -> dict[int, str]:
        """pk -> name of every live project whose data `principal` may read."""
        return {
            pk: name
            for pk, name in self.projects.live_names_in(conn).items()
            if principal.may(Action.DATA_READ, name)
        }

    def project_names(self, conn: Connection, pks: set[int]) -> dict[int, str]:
        """pk -> name of these projects, deleted or not. No permission check."""
        return self.projects.names(conn, pks)

    def dataset(
        self, conn: Connection, principal: Principal, project: str, name: str, action: Action
    ) -> Target:
        project_pk = self.project(conn, principal, project, action)
        row = self.store.find(conn, project_pk, name)
        if row is None:
            raise NotFound(f"dataset {name!r} does not exist in project {project!r}")
        return Target(project, project_pk, row.pk, row.name)

    @staticmethod
    def ref(ref: str | DatasetRef, project: str | None) -> tuple[str, DatasetRef]:
        """The project and the parsed reference (NAME@vN is in `project`)."""
        parsed = ref if isinstance(ref, DatasetRef) else parse_dataset_ref(ref, project)
        if parsed.project is None:
            raise InvalidInput(f"{ref}: which project? pass a project or use PROJECT/NAME@vN")
        return parsed.project, parsed

    def version_row(self, conn: Connection, target: Target, version: int | None) -> Any:
        """Version `version` of the dataset, or its latest when None, with its verdict."""
        row = self.store.resolve(conn, target.dataset_pk, version)
        if row is None:
            which = f"version v{version}" if version is not None else "versions"
            raise NotFound(f"dataset {target.project}/{target.name} has no {which}")
        if version is None:  # the summary row of `latest` lacks the verdict: read it fully
            row = self.store.version(conn, target.dataset_pk, row.version)
        return row
