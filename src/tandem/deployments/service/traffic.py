"""The traffic moves a release, a rollout's analysis and a person share: the candidate taking
all the traffic, a rollout ending, a rollback to the rollback target, and the stages the gates
keep in step with them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Principal
from tandem.core.clock import now_ms
from tandem.deployments.models import (
    EventKind,
    Role,
    Rollout,
    RolloutStatus,
    Strategy,
)
from tandem.deployments.service.base import (
    Actor,
    DeploymentCore,
    Held,
)  # fmt: skip
from tandem.errors import Conflict


class TrafficOps(DeploymentCore):
    def _make_primary(self, conn: Connection, held: Held, rollout: Rollout,
                      version_pk: int) -> None:  # fmt: skip
        """The candidate takes all the traffic; every other deployment leaves the policy, the
        baseline becoming the rollback target."""
        for d in self.store.deployments(conn, held.pk):
            if d.deployment_id != rollout.candidate:
                self.store.remove(conn, d.deployment_id)
        self.store.set_traffic(conn, rollout.candidate, role=Role.PRIMARY, weight=100.0)
        if rollout.baseline is not None:
            self.store.update(conn, held.pk, rollback_target=rollout.baseline)

    def _record_release(
        self, conn: Connection, principal: Principal, held: Held, rollout: Rollout,
        version_pk: int, evidence: dict[str, Any],
    ) -> list[str]:  # fmt: skip
        """The gates record the release (stages follow the traffic); what changed."""
        baseline = self.store.deployment(conn, rollout.baseline) if rollout.baseline else None
        return self.releases.record_release(
            conn, principal, held.project, released_version_pk=version_pk,
            replaced_version_pk=baseline.version_pk if baseline is not None else None,
            endpoint=held.row.name, evidence=evidence,
        )  # fmt: skip

    def _release_standby(self, conn: Connection, held: Held, actor: Actor) -> None:
        before = self._weights(conn, held.pk)
        standby = [d for d in self.store.deployments(conn, held.pk)
                   if d.role == Role.STANDBY.value]  # fmt: skip
        for d in standby:
            self.store.remove(conn, d.deployment_id)
        self._record(
            conn, held, actor, EventKind.STANDBY_RELEASED, before,
            evidence={"deployments": [d.deployment_id for d in standby]},
            message="the blue-green warm window is over", warm_until=None,
        )  # fmt: skip

    def _advance(self, conn: Connection, held: Held, actor: Actor, rollout: Rollout,
                 evidence: dict[str, Any], reason: str) -> None:  # fmt: skip
        step = rollout.step + 1
        weight = rollout.steps[step]
        before = self._weights(conn, held.pk)
        self.store.set_traffic(conn, rollout.candidate, role=Role.CANARY, weight=weight)
        if rollout.baseline is not None:
            self.store.set_traffic(conn, rollout.baseline, role=Role.PRIMARY,
                                   weight=100.0 - weight)  # fmt: skip
        self.store.update_rollout(conn, rollout.id, step=step, step_started_at=now_ms(),
                                  status=RolloutStatus.RUNNING, reason="")  # fmt: skip
        self._record(conn, held, actor, EventKind.STEP, before,
                     evidence={**evidence, "step": step, "weight": weight},
                     message=reason)  # fmt: skip

    def _complete(
        self, conn: Connection, held: Held, actor: Actor, rollout: Rollout, kind: EventKind,
        evidence: dict[str, Any], message: str,
    ) -> None:  # fmt: skip
        """The candidate takes all the traffic. Blue-green keeps the baseline warm (standby)
        until `warm_s` has passed; the others drop it. A production endpoint records the
        release."""
        before = self._weights(conn, held.pk)
        candidate = self.store.deployment(conn, rollout.candidate)
        warm_until = None
        if rollout.strategy is Strategy.BLUE_GREEN and rollout.baseline and rollout.warm_s:
            warm_until = now_ms() + int(rollout.warm_s * 1000)
            for d in self.store.deployments(conn, held.pk):
                if d.deployment_id not in (rollout.candidate, rollout.baseline):
                    self.store.remove(conn, d.deployment_id)
            self.store.set_traffic(conn, rollout.baseline, role=Role.STANDBY, weight=0.0)
            self.store.set_traffic(conn, rollout.candidate, role=Role.PRIMARY, weight=100.0)
            self.store.update(conn, held.pk, rollback_target=rollout.baseline)
        else:
            self._make_primary(conn, held, rollout, candidate.version_pk)
        last_step = max(len(rollout.steps) - 1, 0)
        self.store.update_rollout(conn, rollout.id, status=RolloutStatus.COMPLETED,
                                  finished_at=now_ms(), step=last_step)  # fmt: skip
        evidence = {**evidence, "rollout": rollout.id}
        if held.row.production:
            evidence["stages"] = self._record_release(
                conn, actor.principal, held, rollout, candidate.version_pk, evidence
            )
        self._record(conn, held, actor, kind, before, evidence=evidence, message=message,
                     warm_until=warm_until)  # fmt: skip

    def _roll_back_rollout(
        self, conn: Connection, held: Held, actor: Actor, rollout: Rollout, reason: str,
        evidence: dict[str, Any], *, status: RolloutStatus, kind: EventKind = EventKind.ROLLED_BACK,
    ) -> None:  # fmt: skip
        """A rollout under way ends: the baseline takes all the traffic back, the candidate
        leaves (it never became the production version, so no stage changes)."""
        before = self._weights(conn, held.pk)
        self.store.remove(conn, rollout.candidate)
        if rollout.baseline is not None:
            self.store.set_traffic(conn, rollout.baseline, role=Role.PRIMARY, weight=100.0)
        self.store.update_rollout(conn, rollout.id, status=status, reason=reason,
                                  finished_at=now_ms())  # fmt: skip
        self._record(conn, held, actor, kind, before,
                     evidence={**evidence, "rollout": rollout.id}, message=reason)  # fmt: skip

    def _record_rollback(self, conn: Connection, principal: Principal, held: Held,
                         restored: str, withdrawn: str) -> list[str]:  # fmt: skip
        """The gates record the rollback (stages follow the traffic); what changed."""
        return self.releases.record_rollback(
            conn, principal, held.project,
            restored_version_pk=self.store.deployment(conn, restored).version_pk,
            withdrawn_version_pk=self.store.deployment(conn, withdrawn).version_pk,
            endpoint=held.row.name,
        )  # fmt: skip

    def _roll_back_release(self, conn: Connection, held: Held, actor: Actor,
                           rollout: Rollout | None, message: str) -> None:  # fmt: skip
        target_id = held.row.rollback_target
        target = self.store.deployment(conn, target_id) if target_id else None
        if target is None:
            raise Conflict(
                f"endpoint {held.row.name!r} has nothing to roll back to: no release replaced "
                "another here yet"
            )
        before = self._weights(conn, held.pk)
        withdrawn = [d for d in self.store.deployments(conn, held.pk)
                     if d.role == Role.PRIMARY.value]  # fmt: skip
        for d in self.store.deployments(conn, held.pk):
            if d.deployment_id != target_id:
                self.store.remove(conn, d.deployment_id)
        self.store.set_traffic(conn, target_id, role=Role.PRIMARY, weight=100.0)
        if rollout is not None and rollout.candidate in {d.deployment_id for d in withdrawn}:
            self.store.update_rollout(conn, rollout.id, status=RolloutStatus.ROLLED_BACK,
                                      reason=message or "rolled back by hand")  # fmt: skip
        evidence: dict[str, Any] = {
            "restored": target_id, "withdrawn": [d.deployment_id for d in withdrawn]
        }  # fmt: skip
        if held.row.production and withdrawn:
            evidence["stages"] = self._record_rollback(
                conn, actor.principal, held, target_id, withdrawn[0].deployment_id
            )
        if rollout is not None:
            evidence["rollout"] = rollout.id
        self._record(conn, held, actor, EventKind.ROLLED_BACK, before, evidence=evidence,
                     message=message, rollback_target=None, warm_until=None)  # fmt: skip
