"""DeploymentService: every rule about endpoints, their traffic, rollouts and history, and the
controller that moves a rollout on the figures gateways report.

Rules, all checked here so every face enforces them:
- Reading needs `deployment:read`. A non-production endpoint is created and changed with
  `deployment:write` (gateways report with it too); a production endpoint needs
  `deployment:release`: creating it, deploying, promoting, pausing, resuming, rolling back.
  The permission is asked before anything is read.
- Only a version that passed its gate to ready-for-production (or is in production) may take a
  production endpoint's traffic (`Releases.release_check`, the gates' rule); completing a
  rollout there records the release, and a rollback the withdrawal, in the same transaction
  (`Releases.record_release` / `record_rollback`), so the stage and the traffic never disagree.
- One rollout at a time per endpoint. Every traffic change holds the endpoint's row, bumps
  `policy_version`, appends one immutable `DeploymentEvent` (before and after weights, actor,
  evidence) and one audit event. A change may name the policy version its author saw
  (`expected_policy_version`): of two people acting at once one wins, the other is told who.
- The controller (`analyse`, and every stats report: the gateway is the clock) reads the
  candidate's windows since its step started through the pure `analysis` module and applies
  the decision: advance, complete, roll back, pause (too few samples), or hold. A rollout
  waiting for a person (blue-green, shadow) or paused is judged on its last interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from tandem.deployments.service.base import DeployHook, Releases, check_endpoint_name
from tandem.deployments.service.controller import ControllerOps
from tandem.deployments.service.endpoints import EndpointOps
from tandem.deployments.service.releases import ReleaseOps

__all__ = [
    "DeployHook",
    "DeploymentNodes",
    "DeploymentService",
    "Releases",
    "check_endpoint_name",
]

LineageLabels = dict[int, tuple[int, str, str, str | None]]


class DeploymentService(EndpointOps, ReleaseOps, ControllerOps):
    """The deployments domain's one entry, for the faces and for other domains. Its operations
    live in a module each, over the shared `DeploymentCore`:

        endpoints.py   endpoints, the policy, history, figures, serving     EndpointOps
        releases.py    deploy, promote, pause, resume, roll back            ReleaseOps
        controller.py  stats reports and the analysis of a rollout          ControllerOps
        traffic.py     the traffic moves those share (complete, roll back)  TrafficOps
        base.py        holding an endpoint, recording a change              DeploymentCore
    """

    # -- lineage's read model (no permission check: lineage checked) -----------------------

    def endpoint_pk_in(self, conn: Connection, project_pk: int, name: str) -> int | None:
        """The pk of endpoint `name` of the project, or None."""
        row = self.store.find(conn, project_pk, name)
        return None if row is None else int(row.pk)

    def deployment_pk_in(self, conn: Connection, project_pk: int, deployment_id: str) -> int | None:
        """The pk of deployment `deployment_id` on one of the project's endpoints, or None."""
        return self.store.deployment_pk(conn, project_pk, deployment_id)

    def lineage_labels(self, conn: Connection, pks: Sequence[int]) -> LineageLabels:
        """Endpoints on the lineage graph: pk -> (project pk, ref, label, status)."""
        return {
            r.pk: (
                r.project_pk,
                f"endpoints/{r.name}",
                r.name,
                "production" if r.production else "non-production",
            )
            for r in self.store.endpoints_by_pk(conn, pks)
        }

    def deployments_in(self, conn: Connection, project_pk: int, endpoint: str) -> dict[str, str]:
        """Every deployment ever made on the project's endpoint `endpoint`: id ->
        `model@version`, oldest first ({} for no such endpoint). No permission check: for
        other domains that checked their own (incidents linking what was involved)."""
        row = self.store.find(conn, project_pk, endpoint)
        if row is None:
            return {}
        return {
            r.deployment_id: f"{r.model}@{r.version}"
            for r in self.store.deployment_rows(conn, row.pk)
        }


class DeploymentNodes:
    """Deployments on the lineage graph (lineage labels each kind through its own source)."""

    def __init__(self, service: DeploymentService) -> None:
        self.service = service

    def lineage_labels(self, conn: Connection, pks: Sequence[int]) -> LineageLabels:
        return {
            r.pk: (
                r.project_pk,
                f"deployments/{r.deployment_id}",
                f"{r.model}@{r.version} on {r.endpoint}",
                r.role if r.active else "retired",
            )
            for r in self.service.store.deployments_by_pk(conn, pks)
        }
