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

from tandem.deployments.service.base import DeployHook, Releases, check_endpoint_name
from tandem.deployments.service.controller import ControllerOps
from tandem.deployments.service.endpoints import EndpointOps
from tandem.deployments.service.releases import ReleaseOps

__all__ = ["DeployHook", "DeploymentService", "Releases", "check_endpoint_name"]


class DeploymentService(EndpointOps, ReleaseOps, ControllerOps):
    """The deployments domain's one entry, for the faces and for other domains. Its operations
    live in a module each, over the shared `DeploymentCore`:

        endpoints.py   endpoints, the policy, history, figures, serving     EndpointOps
        releases.py    deploy, promote, pause, resume, roll back            ReleaseOps
        controller.py  stats reports and the analysis of a rollout          ControllerOps
        traffic.py     the traffic moves those share (complete, roll back)  TrafficOps
        base.py        holding an endpoint, recording a change              DeploymentCore
    """
