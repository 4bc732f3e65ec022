"""The controller: what gateways report (windows, models that did not load) and the analysis
of a rollout under way, applied: advance, complete, roll back, pause or hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.deployments import analysis
from tandem.deployments.models import (
    Analysis,
    EventKind,
    ReportAck,
    Role,
    RolloutStatus,
    StatsReport,
    Strategy,
)
from tandem.deployments.service.base import (
    ACTIVE,
    Actor,
    Held,
)  # fmt: skip
from tandem.deployments.service.traffic import TrafficOps
from tandem.errors import InvalidInput


class ControllerOps(TrafficOps):
    # -- what gateways report ---------------------------------------------------------------

    def report(
        self, principal: Principal, project: str, name: str, report: StatsReport
    ) -> ReportAck:
        """Store a gateway's windows, fail a rollout whose candidate did not load, and run the
        controller (the gateway is its clock)."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        analysis.merge(report.windows)  # checks each window's shape (InvalidInput)
        for window in report.windows:
            if window.end <= window.start:
                raise InvalidInput(
                    f"window of deployment {window.deployment!r} ends ({window.end}) before it "
                    f"starts ({window.start})"
                )
        with self._changing(principal, project, name, release=False) as (conn, held):
            known = self.store.deployment_ids(conn, held.pk)
            unknown = sorted({w.deployment for w in report.windows} - set(known)
                             | set(report.load_failures) - set(known))  # fmt: skip
            if unknown:
                raise InvalidInput(
                    f"endpoint {name!r} has no deployment {', '.join(map(repr, unknown))}"
                )
            self.store.insert_windows(conn, held.pk, report.gateway, report.windows)
            actor = Actor.analysis(principal)
            for deployment_id, cause in sorted(report.load_failures.items()):
                self._load_failed(conn, held, Actor.gateway(principal, report.gateway),
                                  deployment_id, cause, report.gateway)  # fmt: skip
            found = self._control(conn, held, actor)
            return ReportAck(policy_version=held.row.policy_version, analysis=found)

    # -- the controller ---------------------------------------------------------------------

    def analyse(self, principal: Principal, project: str, name: str) -> Analysis | None:
        """Run the controller now (cron, CI): the current rollout's analysis, applied; None
        when no rollout is under way."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        with self._changing(principal, project, name, release=False) as (conn, held):
            return self._control(conn, held, Actor.analysis(principal))

    def _control(self, conn: Connection, held: Held, actor: Actor) -> Analysis | None:
        """Release an expired standby; judge the rollout under way and apply the decision."""
        now = now_ms()
        if held.row.warm_until is not None and now >= held.row.warm_until:
            self._release_standby(conn, held, actor)
        last = self.store.last_rollout(conn, held.pk)
        if last is None or RolloutStatus(last.status) not in ACTIVE:
            return None
        rollout = self.store.rollout_model(last)
        starting = rollout.step_started_at
        if rollout.strategy is not Strategy.CANARY or rollout.status is not RolloutStatus.RUNNING:
            # waiting for a person (blue-green, shadow) or paused, maybe for days: the guards
            # read the last interval, so each report reads a bounded number of windows
            starting = max(starting, now - int(rollout.interval_s * 1000))
        windows = self.store.windows(conn, held.pk, deployments=[rollout.candidate],
                                     starting=starting)  # fmt: skip
        figures = analysis.merge(
            analysis.step_windows(rollout, (self.store.window_model(w) for w in windows))
        )
        found = analysis.decide(rollout, figures, now)
        self.store.update_rollout(conn, rollout.id, last_analysis=found)
        evidence = {"rollout": rollout.id, "analysis": found.model_dump(mode="json")}
        if found.decision == "rollback":
            self._roll_back_rollout(conn, held, actor, rollout, found.reason, evidence,
                                    status=RolloutStatus.ROLLED_BACK)  # fmt: skip
        elif found.decision == "inconclusive":
            before = self._weights(conn, held.pk)
            self.store.update_rollout(conn, rollout.id, status=RolloutStatus.PAUSED,
                                      reason=found.reason)  # fmt: skip
            self._record(conn, held, actor, EventKind.PAUSED, before, evidence=evidence,
                         message=found.reason)  # fmt: skip
        elif found.decision == "advance":
            self._advance(conn, held, actor, rollout, evidence, found.reason)
        elif found.decision == "complete":
            self._complete(conn, held, actor, rollout, EventKind.COMPLETED, evidence,
                           found.reason)  # fmt: skip
        return found

    def _load_failed(self, conn: Connection, held: Held, actor: Actor, deployment_id: str,
                     cause: str, gateway: str) -> None:  # fmt: skip
        """A gateway could not load a deployment's model: the rollout that brought it fails
        and the traffic goes back to what served before."""
        last = self.store.last_rollout(conn, held.pk)
        if last is None or last.candidate != deployment_id:
            return  # not the newest release: the gateway keeps serving the old table
        status = RolloutStatus(last.status)
        if status in (RolloutStatus.FAILED, RolloutStatus.ROLLED_BACK):
            return  # reported already
        rollout = self.store.rollout_model(last)
        reason = f"deployment {deployment_id} did not load on gateway {gateway}: {cause}"
        evidence: dict[str, Any] = {"gateway": gateway, "cause": cause[:2000]}
        if status in ACTIVE:
            self._roll_back_rollout(conn, held, actor, rollout, reason, evidence,
                                    status=RolloutStatus.FAILED, kind=EventKind.FAILED)  # fmt: skip
            return
        # completed (a replace, or promoted): back to the version it replaced, if any
        before = self._weights(conn, held.pk)
        self.store.remove(conn, deployment_id)
        values: dict[str, Any] = {"warm_until": None}
        if rollout.baseline is not None:
            self.store.set_traffic(conn, rollout.baseline, role=Role.PRIMARY, weight=100.0)
            values["rollback_target"] = None
            if held.row.production:
                evidence["stages"] = self._record_rollback(
                    conn, actor.principal, held, rollout.baseline, deployment_id
                )
        self.store.update_rollout(conn, rollout.id, status=RolloutStatus.FAILED, reason=reason)
        self._record(conn, held, actor, EventKind.FAILED, before,
                     evidence={**evidence, "rollout": rollout.id}, message=reason,
                     **values)  # fmt: skip
