"""Principals and permissions. Every service method takes the acting principal and checks it here,
so each face (REST, CLI, SDK, web) gets the same rules.

This is the seam the users-and-roles capability fills in: for now there is one kind of principal,
the owner of a loopback or embedded workspace, who may do everything.
"""

from __future__ import annotations

import enum
import getpass
from dataclasses import dataclass

from tandem.errors import PermissionDenied


class Action(enum.StrEnum):
    PROJECT_READ = "project:read"
    PROJECT_WRITE = "project:write"
    PROJECT_DELETE = "project:delete"
    RUN_READ = "run:read"
    RUN_WRITE = "run:write"
    RUN_DELETE = "run:delete"
    ARTIFACT_READ = "artifact:read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user name and whether they own the whole workspace."""

    name: str
    is_workspace_owner: bool = False

    @classmethod
    def local_owner(cls) -> Principal:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            name = "local"
        return cls(name=name, is_workspace_owner=True)


class Authorizer:
    """Decides whether a principal may perform an action on a project."""

    def require(self, principal: Principal, action: Action, project: str | None = None) -> None:
        if principal.is_workspace_owner:
            return
        target = f" on project {project!r}" if project else ""
        raise PermissionDenied(f"{principal.name} may not {action.value}{target}")
