"""The parts of DeploymentService every operation shares: the gates' side of a release
(`Releases`), the endpoint a change holds, who a change is recorded as, the checks of names
and times, and `DeploymentCore` (finding, holding and recording)."""

from __future__ import annotations

import contextlib
import itertools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import format_ms, now_ms
from tandem.data.service import DataService
from tandem.deployments.models import (
    DeploymentEvent,
    Endpoint,
    EventKind,
    RolloutStatus,
)
from tandem.deployments.store import DeploymentStore
from tandem.errors import Conflict, InvalidInput, NotFound
from tandem.governance.notifications.service import Notifier, Outbox
from tandem.lineage.models import Entity, NodeKind, Relation
from tandem.lineage.service import LineageLinks
from tandem.projects.service import ProjectService
from tandem.registry.models import ModelVersion
from tandem.registry.service import RegistryService
from tandem.store.db import Database

_ENDPOINT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_STICKY_KEY = re.compile(r"^(header|field):[A-Za-z0-9_.\-]{1,100}$")
# A rollout in one of these still owns the endpoint's traffic: no second one starts.
ACTIVE = (RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.AWAITING_PROMOTION)
QUIET_MS = 5 * 60 * 1000  # an endpoint that served no request for this long may be deleted
WINDOW_RETENTION_DAYS = 30  # gc keeps the figures gateways report this long (charts, analysis)
MAX_POINTS = 10_000  # windows(): buckets per deployment, at most
ANALYSIS = "analysis"  # the actor of the controller's changes
RACI_ACTIVITY = "deployment"  # whom the RACI names for it hear of every traffic change
QUIET_EVENTS = frozenset({EventKind.CREATED, EventKind.SETTINGS})  # not traffic changes


class Releases(Protocol):
    """The gates' side of a production release (governance's GateService): deployments asks,
    the gates decide and keep the stages."""

    def release_check(
        self, principal: Principal, project: str, model: str, selector: str
    ) -> ModelVersion: ...

    def release_gate(self, conn: Connection, version_pk: int) -> str | None: ...

    def record_release(
        self, conn: Connection, principal: Principal, project: str, *,
        released_version_pk: int, replaced_version_pk: int | None, endpoint: str,
        evidence: dict[str, Any],
    ) -> list[str]: ...  # fmt: skip

    def record_rollback(
        self, conn: Connection, principal: Principal, project: str, *,
        restored_version_pk: int, withdrawn_version_pk: int, endpoint: str,
    ) -> list[str]: ...  # fmt: skip


class DeployHook(Protocol):
    """Told of every deployment, inside its transaction (the monitoring domain creates an
    endpoint's default monitors): wired by the container with `use_deploy_hook`, so this
    domain never imports the one that listens. It must not fail the deploy for its own
    reasons: it writes what it can and leaves the rest."""

    def on_deploy(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, *,
        endpoint: str, production: bool, model: str, version: int,
    ) -> None: ...  # fmt: skip


@dataclass
class Held:
    """An endpoint's row, held for the transaction (`_hold`), and the notifications its
    changes queue (sent once the transaction has committed)."""

    project: str
    project_pk: int
    row: Any
    outbox: Outbox | None = None

    @property
    def pk(self) -> int:
        return int(self.row.pk)

    @property
    def ref(self) -> str:
        return f"{self.project}/endpoints/{self.row.name}"


@dataclass(frozen=True)
class Actor:
    """Who a change is recorded as: a person (the principal), the analysis, or a gateway."""

    principal: Principal
    name: str
    kind: str  # person | analysis | gateway

    @classmethod
    def person(cls, principal: Principal) -> Actor:
        return cls(principal, principal.name, "person")

    @classmethod
    def analysis(cls, principal: Principal) -> Actor:
        return cls(principal, ANALYSIS, "analysis")

    @classmethod
    def gateway(cls, principal: Principal, gateway: str) -> Actor:
        """A gateway's own report (a model that did not load), not a judgement of figures."""
        return cls(principal, f"gateway {gateway}", "gateway")


def new_id(prefix: str, hex_digits: int) -> str:
    return f"{prefix}-{secrets.token_hex(hex_digits // 2)}"


def check_endpoint_name(name: str) -> str:
    if not isinstance(name, str) or not _ENDPOINT_NAME.match(name):
        raise InvalidInput(
            f"invalid endpoint name {name!r}: 1-64 characters of a-z, 0-9 and -, starting with "
            "a letter or digit"
        )
    return name


def check_sticky_key(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _STICKY_KEY.match(value):
        raise InvalidInput(
            f"invalid sticky key {value!r}: use header:NAME (e.g. header:X-User) or "
            "field:NAME (a field of the request, e.g. field:customer_id)"
        )
    return value


def check_steps(steps: list[float]) -> list[float]:
    if len(steps) < 2:
        raise InvalidInput("a canary needs at least two steps, ending at 100, e.g. 5,25,50,100")
    if any(not 0 < s <= 100 for s in steps):
        raise InvalidInput(f"canary steps are percentages in (0, 100]: {steps}")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput(f"canary steps must increase: {steps}")
    if steps[-1] != 100:
        raise InvalidInput(f"the last canary step takes all the traffic (100), not {steps[-1]:g}")
    return [float(s) for s in steps]


class DeploymentCore:
    """What every part of the service shares: its collaborators, finding and holding an
    endpoint, and recording a change (event, policy version, audit, notifications)."""

    def __init__(
        self,
        db: Database,
        store: DeploymentStore,
        projects: ProjectService,
        registry: RegistryService,
        data: DataService,
        releases: Releases,
        notifier: Notifier,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.registry = registry
        self.data = data
        self.releases = releases
        self.notifier = notifier
        self.auth = auth
        self.audit = audit
        self.deploy_hooks: list[DeployHook] = []
        self.links: LineageLinks | None = None

    def use_lineage(self, links: LineageLinks) -> None:
        """Record each deployment on the lineage graph: its model version -> it -> its
        endpoint (the container wires it)."""
        self.links = links

    def _link_deployment(self, conn: Connection, project_pk: int, endpoint_pk: int,
                         deployment_id: str, version_pk: int, now: int) -> None:  # fmt: skip
        """model version -> deployed-as -> the deployment -> serves -> its endpoint."""
        pk = self.store.deployment_pk(conn, project_pk, deployment_id)
        if self.links is None or pk is None:
            return
        deployment = Entity(NodeKind.DEPLOYMENT, pk, project_pk)
        self.links.link(conn, Entity(NodeKind.MODEL_VERSION, version_pk, project_pk),
                        deployment, Relation.DEPLOYED_AS, now)  # fmt: skip
        self.links.link(conn, deployment, Entity(NodeKind.ENDPOINT, endpoint_pk, project_pk),
                        Relation.SERVES, now)  # fmt: skip

    def use_deploy_hook(self, hook: DeployHook) -> None:
        """Tell `hook` of every deployment from now on (the container wires it)."""
        self.deploy_hooks.append(hook)

    # -- lookups ----------------------------------------------------------------------------

    def _row(self, conn: Connection, project_pk: int, project: str, name: str,
             *, lock: bool = False) -> Any:  # fmt: skip
        row = self.store.find(conn, project_pk, check_endpoint_name(name), lock=lock)
        if row is None:
            raise NotFound(f"endpoint {name!r} does not exist in project {project!r}")
        return row

    def _read(self, conn: Connection, principal: Principal, project: str, name: str) -> Held:
        project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
        return Held(project, project_pk, self._row(conn, project_pk, project, name))

    def _hold(
        self, conn: Connection, principal: Principal, project: str, name: str, *,
        release: bool = True,
    ) -> Held:  # fmt: skip
        """The endpoint's row, locked for this transaction, once `principal` may change it:
        `deployment:write`, and `deployment:release` for a production endpoint (`release`)."""
        project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_WRITE)
        row = self._row(conn, project_pk, project, name, lock=True)
        if release and row.production:
            self.auth.require(principal, Action.DEPLOYMENT_RELEASE, project)
        return Held(project, project_pk, row)

    @contextlib.contextmanager
    def _changing(
        self, principal: Principal, project: str, name: str, *, release: bool = True
    ) -> Iterator[tuple[Connection, Held]]:
        """A write transaction holding the endpoint (`_hold`); the RACI's `deployment`
        members hear of its traffic changes once it has committed."""
        outbox = Outbox(principal)
        with self.db.write() as conn:
            held = self._hold(conn, principal, project, name, release=release)
            held.outbox = outbox
            yield conn, held
        self.notifier.deliver(outbox)

    def _is_production(self, principal: Principal, project: str, name: str) -> bool:
        with self.db.read() as conn:
            return bool(self._read(conn, principal, project, name).row.production)

    # -- recording a change -----------------------------------------------------------------

    def _weights(self, conn: Connection, endpoint_pk: int) -> dict[str, float]:
        weights: dict[str, float] = {}
        for d in self.store.deployments(conn, endpoint_pk):
            label = f"{d.model}@{d.version}"
            weights[label] = weights.get(label, 0.0) + float(d.weight)
        return weights

    def _record(
        self, conn: Connection, held: Held, actor: Actor, kind: EventKind,
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
        if held.outbox is not None and kind not in QUIET_EVENTS:
            weights = ", ".join(f"{k} {v:g}%" for k, v in event.after.items()) or "no traffic"
            why = f": {message}" if message else ""
            self.notifier.notify_activity(
                conn, held.outbox, held.project, held.project_pk, RACI_ACTIVITY, "deployment",
                f"{held.ref} {kind.value} by {actor.name} (now {weights}){why}",
                f"/projects/{held.project}/endpoints/{held.row.name}",
                skip=[actor.name] if actor.kind == "person" else [],
            )  # fmt: skip
        held.row = self.store.find(conn, held.project_pk, held.row.name)
        return policy_version

    def _endpoint(self, conn: Connection, held: Held) -> Endpoint:
        return self.store.endpoint(conn, self.store.find(conn, held.project_pk, held.row.name),
                                   held.project)  # fmt: skip

    def _check_expected(self, conn: Connection, held: Held, expected: int | None) -> None:
        if expected is None or expected == held.row.policy_version:
            return
        raise Conflict(
            f"endpoint {held.row.name!r} changed since you looked (policy version "
            f"{expected}, now {held.row.policy_version}): {self._last_change(conn, held)}; "
            "look again before acting",
            policy_version=held.row.policy_version,
        )

    def _last_change(self, conn: Connection, held: Held) -> str:
        last = self.store.last_event(conn, held.pk)
        if last is None:
            return "no change recorded"
        return f"{last.kind} by {last.actor} at {format_ms(last.at)} UTC"

    def _nothing_to(self, conn: Connection, held: Held, what: str) -> Conflict:
        return Conflict(
            f"endpoint {held.row.name!r} has no rollout under way to {what}: the last change was "
            f"{self._last_change(conn, held)}",
            policy_version=held.row.policy_version,
        )
