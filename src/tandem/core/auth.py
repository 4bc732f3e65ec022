"""Principals, roles and permissions. Every service method takes the acting principal and checks
it here, so each face (REST, CLI, SDK, web) gets the same rules.

Denied by default: an action is allowed only if the principal's role in the project grants it
(`ROLE_ACTIONS`), or the principal is a workspace admin or the owner of an embedded workspace.
Someone who is not a member of a project is told it does not exist, so names do not leak.
"""

from __future__ import annotations

import enum
import functools
import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tandem.errors import HiddenNotFound, InvalidInput, PermissionDenied, Unauthenticated


class Action(enum.StrEnum):
    ACCOUNT = "account"  # your own account (who you are, tokens, password): anyone signed in
    PROJECT_CREATE = "project:create"  # workspace-wide: any signed-in user; becomes its admin
    PROJECT_READ = "project:read"
    PROJECT_WRITE = "project:write"
    PROJECT_DELETE = "project:delete"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    RUN_READ = "run:read"
    RUN_WRITE = "run:write"
    RUN_DELETE = "run:delete"
    ARTIFACT_READ = "artifact:read"
    DATA_READ = "data:read"  # datasets, versions, profiles, contracts, validation results
    DATA_WRITE = "data:write"  # add versions, set contracts, validate, edit the catalog
    DATA_DELETE = "data:delete"
    MODEL_READ = "model:read"  # models, versions, their files and aliases
    MODEL_WRITE = "model:write"  # register versions, edit, move aliases, draft <-> review
    MODEL_RELEASE = "model:release"  # stages from ready-for-production on
    DEPLOYMENT_READ = "deployment:read"  # endpoints, their traffic, history and figures
    # non-production endpoints: create, deploy, promote, roll back; gateways report with it
    DEPLOYMENT_WRITE = "deployment:write"
    DEPLOYMENT_RELEASE = "deployment:release"  # production endpoints: create, change traffic
    # monitors and their results, labels, KPIs, alerts, silences, incidents, postmortems
    MONITOR_READ = "monitor:read"
    # create and edit monitors and alert routing, silence alerts, add labels, push KPIs
    MONITOR_WRITE = "monitor:write"
    # respond: open and update incidents, acknowledge alerts, tick playbooks, write postmortems
    INCIDENT_WRITE = "incident:write"
    PLAN_WRITE = "plan:write"  # the brief and success criteria
    RACI_WRITE = "raci:write"  # who is responsible, accountable, consulted, informed
    AUDIT_READ = "audit:read"
    ADMIN = "admin"  # workspace-wide: users, garbage collection, every project


class Role(enum.StrEnum):
    """A member's role in a project. `admin` as a user's workspace role makes a workspace admin."""

    VIEWER = "viewer"
    PRODUCT_MANAGER = "product-manager"
    COMPLIANCE = "compliance"
    DATA_SCIENTIST = "data-scientist"
    ML_ENGINEER = "ml-engineer"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named `value`, or InvalidInput naming the roles there are."""
        try:
            return cls(value)
        except ValueError:
            roles = ", ".join(role.value for role in cls)
            raise InvalidInput(f"unknown role {value!r}: use one of {roles}") from None


_READ = frozenset(
    {
        Action.PROJECT_READ,
        Action.MEMBERS_READ,
        Action.RUN_READ,
        Action.ARTIFACT_READ,
        Action.DATA_READ,
        Action.MODEL_READ,
        Action.DEPLOYMENT_READ,
        Action.MONITOR_READ,
    }
)
_BUILD = _READ | {
    Action.RUN_WRITE,
    Action.RUN_DELETE,
    Action.DATA_WRITE,
    Action.DATA_DELETE,
    Action.MODEL_WRITE,
    Action.DEPLOYMENT_WRITE,
    Action.MONITOR_WRITE,
    Action.INCIDENT_WRITE,
}

ROLE_ACTIONS: Mapping[Role, frozenset[Action]] = MappingProxyType(
    {
        Role.VIEWER: _READ,
        # product managers own the business KPIs and answer incidents with the team
        Role.PRODUCT_MANAGER: _READ
        | {Action.PLAN_WRITE, Action.RACI_WRITE, Action.MONITOR_WRITE, Action.INCIDENT_WRITE},
        Role.COMPLIANCE: _READ | {Action.AUDIT_READ, Action.PLAN_WRITE, Action.INCIDENT_WRITE},
        Role.DATA_SCIENTIST: _BUILD | {Action.PLAN_WRITE},
        Role.ML_ENGINEER: _BUILD
        | {Action.MODEL_RELEASE, Action.DEPLOYMENT_RELEASE, Action.PLAN_WRITE},
        Role.ADMIN: _BUILD
        | {
            Action.PLAN_WRITE,
            Action.RACI_WRITE,
            Action.MODEL_RELEASE,
            Action.DEPLOYMENT_RELEASE,
            Action.PROJECT_WRITE,
            Action.PROJECT_DELETE,
            Action.MEMBERS_WRITE,
            Action.AUDIT_READ,
        },
    }
)
"""What each project role may do in its project. Anything not listed is denied."""

SYSTEM_ACTIONS = _READ | {Action.MONITOR_WRITE, Action.INCIDENT_WRITE}
"""What a system principal (the monitoring worker) may do in every project: read, evaluate
monitors, raise alerts and open incidents; never change traffic, models or members."""


class PrincipalKind(enum.StrEnum):
    OWNER = "owner"  # the person who owns an embedded or open loopback workspace
    USER = "user"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"  # a process of the hub's own (the monitoring worker): SYSTEM_ACTIONS only


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, from where, and their role in each project they belong to."""

    name: str
    kind: PrincipalKind = PrincipalKind.USER
    user_pk: int | None = None
    is_admin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)
    source: str = "local"
    via: str = "embedded"  # how they signed in: embedded, open, token, session

    @property
    def is_workspace_owner(self) -> bool:
        return self.kind is PrincipalKind.OWNER

    @property
    def is_superuser(self) -> bool:
        return self.kind is PrincipalKind.OWNER or self.is_admin

    @classmethod
    def local_owner(cls, source: str = "local", via: str = "embedded") -> Principal:
        return cls(name=_os_user(), kind=PrincipalKind.OWNER, source=source, via=via)

    @classmethod
    def system(cls, name: str = "worker") -> Principal:
        """The hub's own process `name` (e.g. the monitoring worker), acting in every project
        with `SYSTEM_ACTIONS`; audited under `system:<name>`."""
        return cls(name=f"system:{name}", kind=PrincipalKind.SYSTEM, source="local", via="system")

    @classmethod
    def anonymous(cls, source: str) -> Principal:
        return cls(name="anonymous", kind=PrincipalKind.ANONYMOUS, source=source, via="none")

    def role_in(self, project: str) -> Role | None:
        return self.roles.get(project)

    def may(self, action: Action, project: str | None = None) -> bool:
        """Whether this principal may perform `action` (on `project`, for project actions)."""
        if self.is_superuser:
            return True
        if self.kind is PrincipalKind.ANONYMOUS:
            return False
        if self.kind is PrincipalKind.SYSTEM:
            return action in SYSTEM_ACTIONS
        if action in (Action.ACCOUNT, Action.PROJECT_CREATE):
            return True
        if project is None:
            return False
        role = self.roles.get(project)
        return role is not None and action in ROLE_ACTIONS[role]


@functools.cache
def _os_user() -> str:
    """The operating system's name for whoever runs this process (asked once: an open server
    builds an owner principal per request)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "local"


class Authorizer:
    """Decides whether a principal may perform an action, and says why not."""

    def require(
        self,
        principal: Principal,
        action: Action,
        project: str | None = None,
        *,
        hidden: str | None = None,
    ) -> None:
        """Raise unless `principal` may perform `action`. `hidden` names what a non-member
        is told does not exist (default: the project).

        Raises:
            Unauthenticated: nobody is signed in.
            HiddenNotFound: `project` is not one the principal belongs to (not told it exists).
            PermissionDenied: a member whose role does not grant `action`.
        """
        if principal.may(action, project):
            return
        error: Unauthenticated | HiddenNotFound | PermissionDenied
        if principal.kind is PrincipalKind.ANONYMOUS:
            error = Unauthenticated("sign in, or send an API token: Authorization: Bearer <token>")
        elif project is not None and principal.role_in(project) is None:
            error = HiddenNotFound(f"{hidden or f'project {project!r}'} does not exist")
        else:
            target = f" in project {project!r}" if project else ""
            role = principal.role_in(project) if project else None
            as_role = f" as {role.value}" if role else ""
            error = PermissionDenied(f"{principal.name} may not {action.value}{target}{as_role}")
        error.project = project
        raise error

    def readable_projects(self, principal: Principal) -> frozenset[str] | None:
        """The projects `principal` may list, or None for all of them."""
        if principal.is_superuser or principal.kind is PrincipalKind.SYSTEM:
            return None
        return frozenset(principal.roles)
