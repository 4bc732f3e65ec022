"""Keeping model stages in step with production traffic (`GateService.record_release` and
`record_rollback`, called by the deployments domain inside its own transaction).

A release that completes on a production endpoint makes its version `production`; the version
it replaced goes back to `ready-for-production` (unless another production endpoint still
serves it) and becomes the model's `rollback` alias. A rollback does the reverse. Each move is
audited by the registry (`model.version.stage`, with the endpoint and the cause) and the whole
change once here (`model.release`, `model.rollback`), so the audit log answers "why is this
version in production" without reading the deployment history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Principal
from tandem.errors import Conflict, NotFound
from tandem.governance.gates.models import ROLLBACK_ALIAS
from tandem.projects.service import ProjectService
from tandem.registry.models import Stage
from tandem.registry.service import RegistryService

RELEASABLE = frozenset({Stage.READY_FOR_PRODUCTION, Stage.PRODUCTION})
"""The stages a version may take production traffic in: it passed its gate to them."""


class RollbackTargets(Protocol):
    """What serves production, as the gates need it: the rollback-target checklist item, and
    whether a replaced version still serves elsewhere. The deployments domain implements it
    (`DeploymentService`) and the container wires it with `GateService.use_rollback_targets`
    once both exist, so the gates never import the deployments domain."""

    def serving_versions(
        self, conn: Connection, project_pk: int, *, production: bool = True
    ) -> set[int]:
        """The pks of the model versions that take traffic (weight > 0) on the project's
        production endpoints, read inside the caller's transaction (so a release sees its own
        new weights). No permission check: the caller checked its access to the project."""
        ...


@dataclass(frozen=True)
class _Version:
    pk: int
    model: str
    version: int
    stage: Stage

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass
class _Change:
    """One release or rollback being recorded: where, why, and the lines it changed."""

    conn: Connection
    principal: Principal
    project: str
    project_pk: int
    targets: RollbackTargets | None
    endpoint: str
    cause: str  # release | rollback
    lines: list[str] = field(default_factory=list)


class ReleaseRecords:
    """The stage side of a release or a rollback, inside the deployment's transaction. The
    deployment checked its own permission (`deployment:release`); that is the authority here,
    as a gate's sign-offs are for `RegistryService.move_by_gate`."""

    def __init__(self, projects: ProjectService, registry: RegistryService, audit: AuditLog):
        self.projects = projects
        self.registry = registry
        self.audit = audit

    def record_release(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        targets: RollbackTargets | None,
        *,
        released_version_pk: int,
        replaced_version_pk: int | None,
        endpoint: str,
        evidence: dict[str, Any],
    ) -> list[str]:
        """See `GateService.record_release`."""
        project_pk = self.projects.pk_in(conn, project)
        change = _Change(conn, principal, project, project_pk, targets, endpoint, "release")
        released = self._version(change, released_version_pk)
        if released.stage not in RELEASABLE:
            raise Conflict(
                f"{released.ref} is {released.stage.value}: only a version that passed its gate "
                f"to ready-for-production may be released on production endpoint {endpoint!r}",
                stage=released.stage.value,
            )
        self._move(change, released, Stage.PRODUCTION)
        replaced = None
        if replaced_version_pk is not None and replaced_version_pk != released_version_pk:
            replaced = self._version(change, replaced_version_pk)
            self._withdraw(change, replaced)
            if replaced.model == released.model and replaced.stage is not Stage.RETIRED:
                self.registry.point_alias(conn, principal, project, ROLLBACK_ALIAS, replaced.pk)
                change.lines.append(f"alias {ROLLBACK_ALIAS} -> {replaced.ref}")
        self.audit.record(
            conn, principal, "model.release", f"{project}/{released.ref}", project=project,
            endpoint=endpoint, replaced=replaced.ref if replaced else None, changes=change.lines,
            evidence=evidence,
        )  # fmt: skip
        return change.lines

    def record_rollback(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        targets: RollbackTargets | None,
        *,
        restored_version_pk: int,
        withdrawn_version_pk: int,
        endpoint: str,
    ) -> list[str]:
        """See `GateService.record_rollback`."""
        project_pk = self.projects.pk_in(conn, project)
        change = _Change(conn, principal, project, project_pk, targets, endpoint, "rollback")
        restored = self._version(change, restored_version_pk)
        withdrawn = self._version(change, withdrawn_version_pk)
        if restored.stage in RELEASABLE:
            self._move(change, restored, Stage.PRODUCTION)
        else:
            # A rollback is never refused (it is what stops an incident); a version that left
            # the release stages since it served is named in the audit for a person to settle.
            change.lines.append(f"{restored.ref} stays {restored.stage.value}")
        if restored.pk != withdrawn.pk:
            self._withdraw(change, withdrawn)
            if self.registry.drop_alias_from(conn, principal, project, ROLLBACK_ALIAS, restored.pk):
                change.lines.append(f"alias {ROLLBACK_ALIAS} removed from {restored.ref}")
        self.audit.record(
            conn, principal, "model.rollback", f"{project}/{withdrawn.ref}", project=project,
            endpoint=endpoint, restored=restored.ref, changes=change.lines,
        )  # fmt: skip
        return change.lines

    # -- helpers ------------------------------------------------------------------------------

    def _version(self, change: _Change, version_pk: int) -> _Version:
        row = self.registry.versions_by_pk(change.conn, [version_pk]).get(version_pk)
        if row is None or row.project_pk != change.project_pk:
            raise NotFound(f"project {change.project!r} has no model version with key {version_pk}")
        return _Version(version_pk, row.name, row.version, Stage(row.stage))

    def _move(self, change: _Change, version: _Version, stage: Stage) -> None:
        previous = self.registry.move_by_traffic(
            change.conn, change.principal, change.project, version.pk, stage,
            endpoint=change.endpoint, cause=change.cause,
        )  # fmt: skip
        if previous is not None:
            change.lines.append(f"{version.ref}: {previous.value} -> {stage.value}")

    def _withdraw(self, change: _Change, version: _Version) -> None:
        """A version that left the endpoint's traffic goes back to ready-for-production, unless
        another production endpoint still serves it (the stage follows the traffic). The
        deployment wrote the endpoint's new weights before calling, in this transaction."""
        if version.stage is not Stage.PRODUCTION:
            return
        targets = change.targets
        if targets is not None and version.pk in targets.serving_versions(
            change.conn, change.project_pk
        ):
            change.lines.append(f"{version.ref} stays production (another endpoint serves it)")
        else:
            self._move(change, version, Stage.READY_FOR_PRODUCTION)
