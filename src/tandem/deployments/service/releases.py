"""Releases and the changes people make: deploy with a strategy, promote, pause, resume,
roll back."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import parse_model_ref
from tandem.core.validation import check_model_name, check_text
from tandem.deployments import analysis
from tandem.deployments.models import (
    DeployRequest,
    Endpoint,
    EventKind,
    Role,
    Rollout,
    RolloutStatus,
    Strategy,
    TrafficChange,
)
from tandem.deployments.service.base import (
    ACTIVE,
    Actor,
    Held,
    check_steps,
    new_id,
)  # fmt: skip
from tandem.deployments.service.traffic import TrafficOps
from tandem.errors import Conflict, InvalidInput


class ReleaseOps(TrafficOps):
    # -- deploying --------------------------------------------------------------------------

    def deploy(
        self, principal: Principal, project: str, name: str, data: DeployRequest
    ) -> Endpoint:
        """Release a model version to the endpoint with a strategy:
        replace (all traffic at once), canary (guarded steps), blue-green (preview, then a
        person promotes) or shadow (a mirrored copy, compared with the primary's answers).

        Raises:
            Conflict: a rollout is under way; the version already serves; a strategy other
                than replace with nothing serving yet; a production endpoint and a version that
                has not passed its gate (naming the gate and the command that opens it).
            InvalidInput: bad steps, guards, or a pickle-based version not deployed trusted.
        """
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        check_model_name(data.model)
        ref = parse_model_ref(f"{data.model}@{data.version}", project)
        selector = ref.selector
        steps = check_steps(data.steps) if data.strategy is Strategy.CANARY else []
        guards = [str(g) for g in analysis.parse_guards(data.strategy, data.guards)]
        message = check_text(data.message, "message", 2000)
        production = self._is_production(principal, project, name)
        if production:
            self.auth.require(principal, Action.DEPLOYMENT_RELEASE, project)
            version = self.releases.release_check(principal, project, ref.name, selector)
        else:
            version = self.registry.get_version(principal, project, ref.name, selector)
        label = f"{version.model}@{version.version}"
        if version.trusted and not data.runtime.trusted:
            raise InvalidInput(
                f"{label} is stored as {version.format}, which runs code when it is loaded: "
                "deploy it with --trusted (trusted=True) if you trust its author"
            )
        now = now_ms()
        with self._changing(principal, project, name) as (conn, held):
            self._check_no_rollout(conn, held)
            current = self.store.deployments(conn, held.pk)
            baseline = next((d for d in current if d.role == Role.PRIMARY.value), None)
            if baseline is not None and (baseline.model, baseline.version) == (
                version.model, version.version
            ):  # fmt: skip
                raise Conflict(
                    f"{label} already serves endpoint {name!r} ({baseline.deployment_id})"
                )
            if baseline is None and data.strategy is not Strategy.REPLACE:
                raise Conflict(
                    f"nothing serves endpoint {name!r} yet, so a {data.strategy.value} release has "
                    "no baseline: make the first release with --strategy replace"
                )
            version_pk = self.registry.version_pk(conn, held.project_pk, version.model,
                                                  version.version)  # fmt: skip
            candidate = new_id("d", 6)
            self.store.insert_deployment(
                conn, endpoint_pk=held.pk, deployment_id=candidate, version_pk=version_pk,
                model=version.model, version=version.version, role=Role.PRIMARY.value,
                weight=0.0, mirror=0.0, active=False, runtime=data.runtime.model_dump_json(),
                flavor=version.flavor, format=version.format, pickled=version.trusted,
                signature=orjson.dumps(version.signature).decode() if version.signature else None,
                files=orjson.dumps([f.model_dump() for f in version.files]).decode(),
                created_at=now, created_by=principal.name,
            )  # fmt: skip
            self._link_deployment(conn, held.project_pk, held.pk, candidate, version_pk, now)
            rollout = Rollout(
                id=new_id("r", 8), strategy=data.strategy, candidate=candidate,
                baseline=baseline.deployment_id if baseline is not None else None, steps=steps,
                step=0, interval_s=data.interval_s, guards=guards, min_samples=data.min_samples,
                mirror=data.mirror if data.strategy is Strategy.SHADOW else None,
                warm_s=data.warm_s if data.strategy is Strategy.BLUE_GREEN else None,
                status=RolloutStatus.RUNNING, step_started_at=now, started_at=now,
                started_by=principal.name,
            )  # fmt: skip
            before = self._weights(conn, held.pk)
            evidence: dict[str, Any] = {
                "rollout": rollout.id, "strategy": data.strategy.value, "deployment": candidate,
                "version": label, "stage": version.stage.value,
            }  # fmt: skip
            if production and (gate := self.releases.release_gate(conn, version_pk)):
                evidence["gate"] = gate  # the gate that let it take production traffic
            if data.runtime.trusted:
                evidence["trusted"] = True
            others = [d.deployment_id for d in current if d.deployment_id != rollout.baseline]
            for other in others:  # a standby left by a blue-green release, say
                self.store.remove(conn, other)
            if data.strategy is Strategy.REPLACE:
                rollout = rollout.model_copy(
                    update={"status": RolloutStatus.COMPLETED, "finished_at": now}
                )
                self.store.insert_rollout(conn, rollout, held.pk)
                self._make_primary(conn, held, rollout, version_pk)
                if production:
                    evidence["stages"] = self._record_release(
                        conn, principal, held, rollout, version_pk, evidence
                    )
            else:
                self.store.insert_rollout(conn, rollout, held.pk)
                if data.strategy is Strategy.CANARY:
                    self.store.set_traffic(conn, candidate, role=Role.CANARY, weight=steps[0])
                    self.store.set_traffic(conn, rollout.baseline or "", role=Role.PRIMARY,
                                           weight=100.0 - steps[0])  # fmt: skip
                elif data.strategy is Strategy.BLUE_GREEN:
                    self.store.set_traffic(conn, candidate, role=Role.PREVIEW, weight=0.0)
                else:  # shadow
                    self.store.set_traffic(conn, candidate, role=Role.SHADOW, weight=0.0,
                                           mirror=data.mirror)  # fmt: skip
                if data.strategy is not Strategy.CANARY:
                    self.store.update_rollout(
                        conn, rollout.id, status=RolloutStatus.AWAITING_PROMOTION
                    )
            self._record(
                conn, held, Actor.person(principal), EventKind.DEPLOYED, before,
                evidence=evidence, message=message,
                audit_details={"version": label, "strategy": data.strategy.value,
                               "trusted": data.runtime.trusted},
                warm_until=None,
            )  # fmt: skip
            for hook in self.deploy_hooks:
                hook.on_deploy(conn, principal, project, held.project_pk, endpoint=held.row.name,
                               production=bool(held.row.production), model=version.model,
                               version=version.version)  # fmt: skip
            return self._endpoint(conn, held)

    def _check_no_rollout(self, conn: Connection, held: Held) -> None:
        last = self.store.last_rollout(conn, held.pk)
        if last is not None and RolloutStatus(last.status) in ACTIVE:
            raise Conflict(
                f"rollout {last.rollout_id} ({last.strategy}, {last.status}) is under way on "
                f"endpoint {held.row.name!r}: promote it or roll it back first"
            )

    # -- people changing traffic ------------------------------------------------------------

    def promote(self, principal: Principal, project: str, name: str,
                data: TrafficChange) -> Endpoint:  # fmt: skip
        """Finish the rollout under way now: a canary takes all the traffic, a blue-green
        candidate switches in (the old version stays warm), a shadow replaces the primary."""
        return self._by_hand(principal, project, name, data, "promote")

    def pause(self, principal: Principal, project: str, name: str,
              data: TrafficChange) -> Endpoint:  # fmt: skip
        """Hold a running canary at its step: the analysis judges but does not advance."""
        return self._by_hand(principal, project, name, data, "pause")

    def resume(self, principal: Principal, project: str, name: str,
               data: TrafficChange) -> Endpoint:  # fmt: skip
        """Run a paused canary again, with a fresh interval for its step."""
        return self._by_hand(principal, project, name, data, "resume")

    def rollback(self, principal: Principal, project: str, name: str,
                 data: TrafficChange) -> Endpoint:  # fmt: skip
        """Back to what served before: the baseline of a rollout under way, or the rollback
        target of the last one (within a blue-green warm window: instantly, it is loaded)."""
        return self._by_hand(principal, project, name, data, "rollback")

    def _by_hand(self, principal: Principal, project: str, name: str, data: TrafficChange,
                 what: str) -> Endpoint:  # fmt: skip
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        message = check_text(data.message, "message", 2000)
        with self._changing(principal, project, name) as (conn, held):
            self._check_expected(conn, held, data.expected_policy_version)
            actor = Actor.person(principal)
            last = self.store.last_rollout(conn, held.pk)
            rollout = self.store.rollout_model(last) if last is not None else None
            under_way = rollout is not None and rollout.status in ACTIVE
            evidence: dict[str, Any] = {"rollout": rollout.id} if rollout is not None else {}
            if what == "rollback" and not under_way:
                self._roll_back_release(conn, held, actor, rollout, message)
                return self._endpoint(conn, held)
            if rollout is None or not under_way:
                raise self._nothing_to(conn, held, what)
            if what == "rollback":
                reason = message or "rolled back by hand"
                self._roll_back_rollout(conn, held, actor, rollout, reason, evidence,
                                        status=RolloutStatus.ROLLED_BACK)  # fmt: skip
            elif what == "promote":
                self._complete(conn, held, actor, rollout, EventKind.PROMOTED, evidence, message)
            else:
                want, to, kind = (
                    (RolloutStatus.RUNNING, RolloutStatus.PAUSED, EventKind.PAUSED)
                    if what == "pause"
                    else (RolloutStatus.PAUSED, RolloutStatus.RUNNING, EventKind.RESUMED)
                )
                if rollout.status is not want:
                    raise Conflict(
                        f"rollout {rollout.id} on endpoint {name!r} is {rollout.status.value}: "
                        f"only a {want.value} rollout can be {what}d"
                    )
                values: dict[str, Any] = {"status": to, "reason": message}
                if to is RolloutStatus.RUNNING:
                    values["step_started_at"] = now_ms()  # the step's interval starts afresh
                before = self._weights(conn, held.pk)
                self.store.update_rollout(conn, rollout.id, **values)
                self._record(conn, held, actor, kind, before, evidence=evidence, message=message)
            return self._endpoint(conn, held)
