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
  the decision: advance, complete, roll back, pause (too few samples), or hold.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import format_ms, now_ms
from tandem.core.paging import Page, check_limit
from tandem.core.refs import parse_model_ref
from tandem.core.validation import check_model_name, check_text
from tandem.deployments import analysis
from tandem.deployments.models import (
    Analysis,
    DeploymentEvent,
    DeployRequest,
    Endpoint,
    EndpointCreate,
    EndpointUpdate,
    EventKind,
    Policy,
    PolicyRoute,
    ReportAck,
    Role,
    Rollout,
    RolloutStatus,
    Runtime,
    ServedAt,
    Serving,
    StatsReport,
    Strategy,
    TrafficChange,
    WindowPoint,
)
from tandem.deployments.store import DeploymentStore
from tandem.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from tandem.projects.service import ProjectService
from tandem.registry.models import ModelVersion, Stage
from tandem.registry.service import RegistryService
from tandem.store.db import Database

_ENDPOINT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_STICKY_KEY = re.compile(r"^(header|field):[A-Za-z0-9_.\-]{1,100}$")
# A rollout in one of these still owns the endpoint's traffic: no second one starts.
ACTIVE = (RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.AWAITING_PROMOTION)
QUIET_MS = 5 * 60 * 1000  # an endpoint that served no request for this long may be deleted
MAX_POINTS = 10_000  # windows(): buckets per deployment, at most
ANALYSIS = "analysis"  # the actor of the controller's changes


class Releases(Protocol):
    """The gates' side of a production release (governance's GateService): deployments asks,
    the gates decide and keep the stages."""

    def release_check(
        self, principal: Principal, project: str, model: str, selector: str
    ) -> ModelVersion: ...

    def record_release(
        self, conn: Connection, principal: Principal, project: str, *,
        released_version_pk: int, replaced_version_pk: int | None, endpoint: str,
        evidence: dict[str, Any],
    ) -> None: ...  # fmt: skip

    def record_rollback(
        self, conn: Connection, principal: Principal, project: str, *,
        restored_version_pk: int, withdrawn_version_pk: int, endpoint: str,
    ) -> None: ...  # fmt: skip


class StageReleases:
    """`Releases` read from the registry's stages alone (used until the gates implement it):
    a version must be ready-for-production or in production; recording changes nothing."""

    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    def release_check(
        self, principal: Principal, project: str, model: str, selector: str
    ) -> ModelVersion:
        version = self.registry.get_version(principal, project, model, selector)
        if version.stage not in (Stage.READY_FOR_PRODUCTION, Stage.PRODUCTION):
            raise Conflict(
                f"{project}/{model}@{version.version} is {version.stage.value}: a production "
                "endpoint takes a version that passed its gate to ready-for-production; open it "
                f"with: tandem gate open {model}@{version.version} --to ready-for-production "
                f"-p {project}"
            )
        return version

    def record_release(self, conn: Connection, principal: Principal, project: str,
                       **_: Any) -> None:  # fmt: skip
        return None

    def record_rollback(self, conn: Connection, principal: Principal, project: str,
                        **_: Any) -> None:  # fmt: skip
        return None


@dataclass
class _Held:
    """An endpoint's row, held for the transaction (`_hold`)."""

    project: str
    project_pk: int
    row: Any

    @property
    def pk(self) -> int:
        return int(self.row.pk)

    @property
    def ref(self) -> str:
        return f"{self.project}/endpoints/{self.row.name}"


@dataclass(frozen=True)
class _Actor:
    """Who a change is recorded as: a person (the principal) or the analysis."""

    principal: Principal
    name: str
    kind: str  # person | analysis | gateway

    @classmethod
    def person(cls, principal: Principal) -> _Actor:
        return cls(principal, principal.name, "person")

    @classmethod
    def analysis(cls, principal: Principal) -> _Actor:
        return cls(principal, ANALYSIS, "analysis")


def _new_id(prefix: str, hex_digits: int) -> str:
    return f"{prefix}-{secrets.token_hex(hex_digits // 2)}"


def check_endpoint_name(name: str) -> str:
    if not isinstance(name, str) or not _ENDPOINT_NAME.match(name):
        raise InvalidInput(
            f"invalid endpoint name {name!r}: 1-64 characters of a-z, 0-9 and -, starting with "
            "a letter or digit"
        )
    return name


def _check_sticky_key(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _STICKY_KEY.match(value):
        raise InvalidInput(
            f"invalid sticky key {value!r}: use header:NAME (e.g. header:X-User) or "
            "field:NAME (a field of the request, e.g. field:customer_id)"
        )
    return value


def parse_moment(value: str | int) -> int:
    """`at` as ms since the epoch: a number of ms, or an ISO-8601 time (UTC unless it says)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"invalid time {value!r}: use ISO-8601 (2026-11-03T14:00, UTC unless it says) or "
            "milliseconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _check_steps(steps: list[float]) -> list[float]:
    if len(steps) < 2:
        raise InvalidInput("a canary needs at least two steps, ending at 100, e.g. 5,25,50,100")
    if any(not 0 < s <= 100 for s in steps):
        raise InvalidInput(f"canary steps are percentages in (0, 100]: {steps}")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput(f"canary steps must increase: {steps}")
    if steps[-1] != 100:
        raise InvalidInput(f"the last canary step takes all the traffic (100), not {steps[-1]:g}")
    return [float(s) for s in steps]


class DeploymentService:
    def __init__(
        self,
        db: Database,
        store: DeploymentStore,
        projects: ProjectService,
        registry: RegistryService,
        releases: Releases,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.registry = registry
        self.releases = releases
        self.auth = auth
        self.audit = audit

    # -- lookups ----------------------------------------------------------------------------

    def _row(self, conn: Connection, project_pk: int, project: str, name: str,
             *, lock: bool = False) -> Any:  # fmt: skip
        row = self.store.find(conn, project_pk, check_endpoint_name(name), lock=lock)
        if row is None:
            raise NotFound(f"endpoint {name!r} does not exist in project {project!r}")
        return row

    def _read(self, conn: Connection, principal: Principal, project: str, name: str) -> _Held:
        project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
        return _Held(project, project_pk, self._row(conn, project_pk, project, name))

    def _hold(
        self, conn: Connection, principal: Principal, project: str, name: str, *,
        release: bool = True,
    ) -> _Held:  # fmt: skip
        """The endpoint's row, locked for this transaction, once `principal` may change it:
        `deployment:write`, and `deployment:release` for a production endpoint (`release`)."""
        project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_WRITE)
        row = self._row(conn, project_pk, project, name, lock=True)
        if release and row.production:
            self.auth.require(principal, Action.DEPLOYMENT_RELEASE, project)
        return _Held(project, project_pk, row)

    def _is_production(self, principal: Principal, project: str, name: str) -> bool:
        with self.db.read() as conn:
            return bool(self._read(conn, principal, project, name).row.production)

    # -- endpoints --------------------------------------------------------------------------

    def create_endpoint(self, principal: Principal, project: str, data: EndpointCreate) -> Endpoint:
        action = Action.DEPLOYMENT_RELEASE if data.production else Action.DEPLOYMENT_WRITE
        self.auth.require(principal, action, project)
        check_endpoint_name(data.name)
        description = check_text(data.description, "description", 10_000)
        sticky_key = _check_sticky_key(data.sticky_key)
        now = now_ms()
        try:
            with self.db.write() as conn:
                project_pk = self.projects.access(conn, principal, project, action)
                if self.store.find(conn, project_pk, data.name) is not None:
                    raise AlreadyExists(
                        f"endpoint {data.name!r} exists in project {project!r}", endpoint=data.name
                    )
                self.store.create(
                    conn, project_pk=project_pk, name=data.name, production=data.production,
                    description=description, sticky_key=sticky_key, sampling=data.sampling,
                    log_personal=data.log_personal, policy_version=0, rollback_target=None,
                    warm_until=None, created_at=now, created_by=principal.name, updated_at=now,
                )  # fmt: skip
                held = _Held(project, project_pk, self.store.find(conn, project_pk, data.name))
                self._record(
                    conn, held, _Actor.person(principal), EventKind.CREATED, {},
                    evidence={"production": data.production}, audit_details={
                        "production": data.production, "log_personal": data.log_personal},
                )  # fmt: skip
                return self.store.endpoint(conn, self.store.find(conn, project_pk, data.name),
                                           project)  # fmt: skip
        except IntegrityError:  # created meanwhile
            raise AlreadyExists(
                f"endpoint {data.name!r} exists in project {project!r}", endpoint=data.name
            ) from None

    def list_endpoints(self, principal: Principal, project: str) -> list[Endpoint]:
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            rows = self.store.names(conn, project_pk)
            return [self.store.endpoint(conn, r, project) for r in rows]

    def get_endpoint(self, principal: Principal, project: str, name: str) -> Endpoint:
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            return self.store.endpoint(conn, held.row, project)

    def update_endpoint(
        self, principal: Principal, project: str, name: str, data: EndpointUpdate
    ) -> Endpoint:
        """Change an endpoint's settings (sticky key, sampling, logging of personal data): the
        gateways see them in the next policy."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        values: dict[str, Any] = {}
        if data.description is not None:
            values["description"] = check_text(data.description, "description", 10_000)
        if data.sticky_key is not None:
            values["sticky_key"] = _check_sticky_key(data.sticky_key)
        if data.sampling is not None:
            values["sampling"] = data.sampling
        if data.log_personal is not None:
            values["log_personal"] = data.log_personal
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name)
            changed = {k: v for k, v in values.items() if getattr(held.row, k) != v}
            if changed:
                before = self._weights(conn, held.pk)
                self._record(
                    conn, held, _Actor.person(principal), EventKind.SETTINGS, before,
                    evidence={"settings": changed}, audit_details=changed, **changed,
                )  # fmt: skip
            return self.store.endpoint(conn, self._row(conn, held.project_pk, project, name),
                                       project)  # fmt: skip

    def delete_endpoint(self, principal: Principal, project: str, name: str) -> None:
        """Delete an endpoint and its history; refused while gateways report traffic for it."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name)
            served = self.store.requests_since(conn, held.pk, now_ms() - QUIET_MS)
            if served:
                raise Conflict(
                    f"endpoint {name!r} served {served} requests in the last "
                    f"{QUIET_MS // 60_000} minutes: stop its gateways first, then delete it"
                )
            self.store.delete(conn, held.pk)
            self.audit.record(conn, principal, "deployment.endpoint.delete", held.ref,
                              project=project)  # fmt: skip

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
        steps = _check_steps(data.steps) if data.strategy is Strategy.CANARY else []
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
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name)
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
            candidate = _new_id("d", 6)
            self.store.insert_deployment(
                conn, endpoint_pk=held.pk, deployment_id=candidate, version_pk=version_pk,
                model=version.model, version=version.version, role=Role.PRIMARY.value,
                weight=0.0, mirror=0.0, active=False, runtime=data.runtime.model_dump_json(),
                flavor=version.flavor, format=version.format, pickled=version.trusted,
                signature=orjson.dumps(version.signature).decode() if version.signature else None,
                files=orjson.dumps([f.model_dump() for f in version.files]).decode(),
                created_at=now, created_by=principal.name,
            )  # fmt: skip
            rollout = Rollout(
                id=_new_id("r", 8), strategy=data.strategy, candidate=candidate,
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
                    self._record_release(conn, principal, held, rollout, version_pk, evidence)
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
                conn, held, _Actor.person(principal), EventKind.DEPLOYED, before,
                evidence=evidence, message=message,
                audit_details={"version": label, "strategy": data.strategy.value,
                               "trusted": data.runtime.trusted},
                warm_until=None,
            )  # fmt: skip
            return self._endpoint(conn, held)

    def _check_no_rollout(self, conn: Connection, held: _Held) -> None:
        last = self.store.last_rollout(conn, held.pk)
        if last is not None and RolloutStatus(last.status) in ACTIVE:
            raise Conflict(
                f"rollout {last.rollout_id} ({last.strategy}, {last.status}) is under way on "
                f"endpoint {held.row.name!r}: promote it or roll it back first"
            )

    def _make_primary(self, conn: Connection, held: _Held, rollout: Rollout,
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
        self, conn: Connection, principal: Principal, held: _Held, rollout: Rollout,
        version_pk: int, evidence: dict[str, Any],
    ) -> None:  # fmt: skip
        baseline = self.store.deployment(conn, rollout.baseline) if rollout.baseline else None
        self.releases.record_release(
            conn, principal, held.project, released_version_pk=version_pk,
            replaced_version_pk=baseline.version_pk if baseline is not None else None,
            endpoint=held.row.name, evidence=evidence,
        )  # fmt: skip

    # -- recording a change -----------------------------------------------------------------

    def _weights(self, conn: Connection, endpoint_pk: int) -> dict[str, float]:
        weights: dict[str, float] = {}
        for d in self.store.deployments(conn, endpoint_pk):
            label = f"{d.model}@{d.version}"
            weights[label] = weights.get(label, 0.0) + float(d.weight)
        return weights

    def _record(
        self, conn: Connection, held: _Held, actor: _Actor, kind: EventKind,
        before: dict[str, float], *, evidence: dict[str, Any] | None = None, message: str = "",
        audit_details: dict[str, Any] | None = None, **endpoint_values: Any,
    ) -> int:  # fmt: skip
        """Bump the policy version, append the event and the audit record; returns the new
        policy version. The caller holds the endpoint's row."""
        now = now_ms()
        policy_version = int(held.row.policy_version) + 1
        self.store.update(conn, held.pk, policy_version=policy_version, updated_at=now,
                          **endpoint_values)  # fmt: skip
        event = DeploymentEvent(
            seq=0, endpoint=held.row.name, kind=kind, at=now, actor=actor.name,
            actor_kind=actor.kind, before=before, after=self._weights(conn, held.pk),
            policy_version=policy_version, evidence=evidence or {}, message=message,
        )  # fmt: skip
        seq = self.store.append_event(conn, held.pk, event)
        details = {"policy_version": policy_version, "event": seq, **(audit_details or {})}
        if actor.kind != "person":
            details["actor"] = actor.name
        self.audit.record(conn, actor.principal, f"deployment.{kind.value}", held.ref,
                          project=held.project, **details)  # fmt: skip
        held.row = self.store.find(conn, held.project_pk, held.row.name)
        return policy_version

    def _endpoint(self, conn: Connection, held: _Held) -> Endpoint:
        return self.store.endpoint(conn, self.store.find(conn, held.project_pk, held.row.name),
                                   held.project)  # fmt: skip

    # -- the policy gateways serve ----------------------------------------------------------

    def policy(
        self, principal: Principal, project: str, name: str, *, known: int | None = None
    ) -> Policy | None:
        """The endpoint's policy, or None when it is still `known` (the gateway's ETag):
        the gateway asks every second, and an unchanged policy costs one small query."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            if known is not None and self.store.policy_version(conn, project_pk, name) == known:
                return None
            row = self._row(conn, project_pk, project, name)
            routes = [self._route(d) for d in self.store.deployments(conn, row.pk)]
        return Policy(
            project=project, endpoint=row.name, policy_version=row.policy_version,
            production=bool(row.production), sticky_key=row.sticky_key, sampling=row.sampling,
            masked_columns=[],  # TODO(dep): the training data's personal columns
            routes=routes,
        )  # fmt: skip

    @staticmethod
    def _route(d: Any) -> PolicyRoute:
        runtime = Runtime.model_validate_json(d.runtime)
        return PolicyRoute(
            deployment=d.deployment_id, model=d.model, version=d.version, role=Role(d.role),
            weight=d.weight, mirror=d.mirror, flavor=d.flavor, format=d.format,
            trusted=bool(d.pickled) and runtime.trusted,
            signature=orjson.loads(d.signature) if d.signature else None,
            files=orjson.loads(d.files), max_rows=runtime.max_rows,
        )  # fmt: skip

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
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name, release=False)
            known = self.store.deployment_ids(conn, held.pk)
            unknown = sorted({w.deployment for w in report.windows} - set(known)
                             | set(report.load_failures) - set(known))  # fmt: skip
            if unknown:
                raise InvalidInput(
                    f"endpoint {name!r} has no deployment {', '.join(map(repr, unknown))}"
                )
            self.store.insert_windows(conn, held.pk, report.gateway, report.windows)
            actor = _Actor.analysis(principal)
            for deployment_id, cause in sorted(report.load_failures.items()):
                self._load_failed(conn, held, actor, deployment_id, cause, report.gateway)
            found = self._control(conn, held, actor)
            return ReportAck(policy_version=held.row.policy_version, analysis=found)

    # -- the controller ---------------------------------------------------------------------

    def analyse(self, principal: Principal, project: str, name: str) -> Analysis | None:
        """Run the controller now (cron, CI): the current rollout's analysis, applied; None
        when no rollout is under way."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name, release=False)
            return self._control(conn, held, _Actor.analysis(principal))

    def _control(self, conn: Connection, held: _Held, actor: _Actor) -> Analysis | None:
        """Release an expired standby; judge the rollout under way and apply the decision."""
        now = now_ms()
        if held.row.warm_until is not None and now >= held.row.warm_until:
            self._release_standby(conn, held, actor)
        last = self.store.last_rollout(conn, held.pk)
        if last is None or RolloutStatus(last.status) not in ACTIVE:
            return None
        rollout = self.store.rollout_model(last)
        windows = self.store.windows(conn, held.pk, deployments=[rollout.candidate],
                                     since=rollout.step_started_at)  # fmt: skip
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

    def _release_standby(self, conn: Connection, held: _Held, actor: _Actor) -> None:
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

    def _advance(self, conn: Connection, held: _Held, actor: _Actor, rollout: Rollout,
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
        self, conn: Connection, held: _Held, actor: _Actor, rollout: Rollout, kind: EventKind,
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
            self._record_release(conn, actor.principal, held, rollout, candidate.version_pk,
                                 evidence)  # fmt: skip
        self._record(conn, held, actor, kind, before, evidence=evidence, message=message,
                     warm_until=warm_until)  # fmt: skip

    def _roll_back_rollout(
        self, conn: Connection, held: _Held, actor: _Actor, rollout: Rollout, reason: str,
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

    def _load_failed(self, conn: Connection, held: _Held, actor: _Actor, deployment_id: str,
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
        evidence = {"gateway": gateway, "cause": cause[:2000]}
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
                self._record_rollback(conn, actor.principal, held, rollout.baseline,
                                      deployment_id)  # fmt: skip
        self.store.update_rollout(conn, rollout.id, status=RolloutStatus.FAILED, reason=reason)
        self._record(conn, held, actor, EventKind.FAILED, before,
                     evidence={**evidence, "rollout": rollout.id}, message=reason,
                     **values)  # fmt: skip

    def _record_rollback(self, conn: Connection, principal: Principal, held: _Held,
                         restored: str, withdrawn: str) -> None:  # fmt: skip
        self.releases.record_rollback(
            conn, principal, held.project,
            restored_version_pk=self.store.deployment(conn, restored).version_pk,
            withdrawn_version_pk=self.store.deployment(conn, withdrawn).version_pk,
            endpoint=held.row.name,
        )  # fmt: skip

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
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name)
            self._check_expected(conn, held, data.expected_policy_version)
            actor = _Actor.person(principal)
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

    def _roll_back_release(self, conn: Connection, held: _Held, actor: _Actor,
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
        if held.row.production and withdrawn:
            self._record_rollback(conn, actor.principal, held, target_id,
                                  withdrawn[0].deployment_id)  # fmt: skip
        evidence = {"restored": target_id, "withdrawn": [d.deployment_id for d in withdrawn]}
        if rollout is not None:
            evidence["rollout"] = rollout.id
        self._record(conn, held, actor, EventKind.ROLLED_BACK, before, evidence=evidence,
                     message=message, rollback_target=None, warm_until=None)  # fmt: skip

    def _check_expected(self, conn: Connection, held: _Held, expected: int | None) -> None:
        if expected is None or expected == held.row.policy_version:
            return
        raise Conflict(
            f"endpoint {held.row.name!r} changed since you looked (policy version "
            f"{expected}, now {held.row.policy_version}): {self._last_change(conn, held)}; "
            "look again before acting",
            policy_version=held.row.policy_version,
        )

    def _last_change(self, conn: Connection, held: _Held) -> str:
        last = self.store.last_event(conn, held.pk)
        if last is None:
            return "no change recorded"
        return f"{last.kind} by {last.actor} at {format_ms(last.at)} UTC"

    def _nothing_to(self, conn: Connection, held: _Held, what: str) -> Conflict:
        return Conflict(
            f"endpoint {held.row.name!r} has no rollout under way to {what}: the last change was "
            f"{self._last_change(conn, held)}",
            policy_version=held.row.policy_version,
        )

    # -- history and figures ----------------------------------------------------------------

    def history(
        self, principal: Principal, project: str, name: str, *, limit: int = 50,
        cursor: str | None = None,
    ) -> Page[DeploymentEvent]:  # fmt: skip
        """Every traffic change, newest first."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_limit(limit)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            rows, next_cursor = self.store.events(conn, held.pk, cursor=cursor, limit=limit)
            return Page(items=[self.store.event_model(r, held.row.name) for r in rows],
                        next_cursor=next_cursor)  # fmt: skip

    def served_at(self, principal: Principal, project: str, name: str,
                  at: str | int) -> ServedAt:  # fmt: skip
        """What served the endpoint at a moment, and the change that put it there."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        moment = parse_moment(at)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            row = self.store.event_at(conn, held.pk, moment)
            event = self.store.event_model(row, held.row.name) if row is not None else None
        return ServedAt(endpoint=name, at=moment, weights=event.after if event else {},
                        event=event)  # fmt: skip

    def windows(
        self, principal: Principal, project: str, name: str, *, since: int | None = None,
        until: int | None = None, bucket_s: int = 10,
    ) -> list[WindowPoint]:  # fmt: skip
        """Each deployment's merged figures per time bucket (default: the last hour)."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        until = until if until is not None else now_ms()
        since = since if since is not None else until - 3_600_000
        if bucket_s < 1:
            raise InvalidInput(f"bucket_s is at least 1 second, not {bucket_s}")
        if until <= since:
            raise InvalidInput(f"until ({until}) must come after since ({since})")
        bucket_ms = bucket_s * 1000
        if (until - since) // bucket_ms > MAX_POINTS:
            raise InvalidInput(
                f"{(until - since) // bucket_ms} buckets is more than {MAX_POINTS}: widen "
                "bucket_s or narrow since/until"
            )
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            labels = self.store.deployment_ids(conn, held.pk)
            rows = self.store.windows(conn, held.pk, since=since, until=until)
            grouped: dict[tuple[str, int], list[Any]] = {}
            for row in rows:
                key = (row.deployment_id, row.start - row.start % bucket_ms)
                grouped.setdefault(key, []).append(self.store.window_model(row))
        points = []
        for (deployment, start), windows in sorted(grouped.items(), key=lambda kv: kv[0][1]):
            figures = analysis.merge(windows)
            points.append(WindowPoint(
                deployment=deployment, label=labels.get(deployment, deployment), start=start,
                requests=figures.requests, errors=figures.errors,
                p50_ms=figures.value("p50_ms"), p99_ms=figures.value("p99_ms"),
            ))  # fmt: skip
        return points

    def serving(
        self, principal: Principal, project: str, *, model: str | None = None,
        version: int | None = None,
    ) -> list[Serving]:  # fmt: skip
        """Where model versions serve in the project (every active deployment)."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            rows = self.store.serving(conn, project_pk, model, version)
        return [
            Serving(project=project, endpoint=r.endpoint, production=bool(r.production),
                    model=r.model, version=r.version, role=Role(r.role), weight=r.weight)
            for r in rows
        ]  # fmt: skip

    # -- for other domains and gc (inside the caller's transaction, no permission check) -----

    def serving_versions(self, conn: Connection, project_pk: int, *,
                         production: bool = True) -> set[int]:  # fmt: skip
        """The pks of the model versions taking traffic on the project's (production)
        endpoints."""
        return self.store.serving_version_pks(conn, project_pk, production)

    def check_endpoint(self, conn: Connection, project_pk: int, project: str, name: str) -> None:
        """Raise NotFound unless the project has endpoint `name` (the prediction log stores
        batches only for one that exists). No permission check: the caller made its own."""
        self._row(conn, project_pk, project, name)

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's endpoints, history and figures go with it."""
        self.store.purge_project(conn, project_pk)
