"""GateService: gates on model version stages, their checklists and sign-offs, and criterion
waivers.

Rules, all checked here so every face enforces them:
- Opening a gate needs `model:write`; one gate per version is open at a time.
- Only the members the RACI marks Accountable for the gate's activity sign it, each for
  themselves; a rejection needs a comment and closes the gate.
- The checklist is evaluated from evidence whenever the gate is read (`checklist`: one small
  function per item). Evidence is stale, and does not count, when its evaluation used a
  dataset version that failed its contract or predates the model version.
- A gate passes only when every item holds and every required member approved; passing moves
  the version in the same transaction. Sign-offs on one gate are serialised on the gate's row,
  so two last approvals cannot both miss the pass.
- A criterion is waived only by its owner role, and the waiver is an accepted decision record.
- Production traffic and stages never disagree: a production endpoint takes only a version
  that passed its gate to ready-for-production (`release_check`), and the deployments domain
  records each completed release and each rollback here (`record_release`, `record_rollback`,
  in its own transaction; gates/releases.py). What serves production comes back through the
  `RollbackTargets` protocol, which the deployments domain implements.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal, Role
from tandem.core.clock import now_ms
from tandem.core.refs import parse_model_ref
from tandem.core.validation import check_text
from tandem.data.service import DataService
from tandem.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.governance.decisions.models import DecisionCreate
from tandem.governance.decisions.service import DecisionService
from tandem.governance.gates.checklist import (
    ItemContext,
    evaluate,
    fresh_evaluations,
    training_data,
)
from tandem.governance.gates.models import (
    ACTIVITY,
    CHECKLISTS,
    CUSTOM_PREFIX,
    Attestation,
    ChecklistItem,
    EndpointPlan,
    Gate,
    GateOpen,
    GateStatus,
    SignDecision,
    SignOff,
    SignOffCreate,
    WaiverCreate,
)
from tandem.governance.gates.releases import RELEASABLE, ReleaseRecords
from tandem.governance.gates.releases import RollbackTargets as RollbackTargets
from tandem.governance.gates.store import GateRow, GateStore
from tandem.governance.notifications.service import Notifier, Outbox
from tandem.governance.plan.models import Criterion, GatePolicy, PolicyItem, Raci
from tandem.governance.plan.service import PlanService
from tandem.projects.service import ProjectService
from tandem.registry.models import ModelVersion, Stage
from tandem.registry.service import RegistryService
from tandem.tracking.service import TrackingService

# Forward moves a gate may request, from each stage (anything but retired may be retired).
NEXT = {
    Stage.DRAFT: {Stage.READY_FOR_REVIEW},
    Stage.READY_FOR_REVIEW: {Stage.READY_FOR_PRODUCTION},
    Stage.READY_FOR_PRODUCTION: {Stage.PRODUCTION},
    Stage.PRODUCTION: set(),
}


class MonitoringPlans(Protocol):
    """What the production endpoints serving a model have their monitors cover (the monitoring
    domain's `MonitoringService`, wired by the container with `use_monitoring_plans`), so the
    gates never import the monitoring domain."""

    def monitoring_plan(
        self, principal: Principal, project: str, model: str
    ) -> list[EndpointPlan]: ...


class GateService:
    def __init__(
        self,
        db: Any,
        store: GateStore,
        projects: ProjectService,
        plan: PlanService,
        decisions: DecisionService,
        registry: RegistryService,
        data: DataService,
        tracking: TrackingService,
        auth: Authorizer,
        audit: AuditLog,
        notifier: Notifier,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.plan = plan
        self.decisions = decisions
        self.registry = registry
        self.data = data
        self.tracking = tracking
        self.auth = auth
        self.audit = audit
        self.notifier = notifier
        self.rollback_targets: RollbackTargets | None = None
        self.monitoring_plans: MonitoringPlans | None = None
        self.releases = ReleaseRecords(projects, registry, audit)

    def use_rollback_targets(self, targets: RollbackTargets) -> None:
        """Read what serves production from `targets` (the DeploymentService), from now on:
        the container calls it once both services exist."""
        self.rollback_targets = targets

    def use_monitoring_plans(self, plans: MonitoringPlans) -> None:
        """Judge the "monitoring plan" item on the monitors `plans` reports (the container
        calls it once the MonitoringService exists)."""
        self.monitoring_plans = plans

    # -- opening and reading ------------------------------------------------------------

    def open(self, principal: Principal, project: str, data: GateOpen) -> Gate:
        """Request moving a version to `data.to`: opens its gate and evaluates it.

        Raises:
            Conflict: the move is not forward from the version's stage, or a gate is open.
        """
        self.auth.require(principal, Action.MODEL_WRITE, project)  # before any rule or state
        ref = parse_model_ref(data.model, project)
        version = self.registry.get_version(principal, project, ref.name, _selector(ref))
        self._check_move(version, data.to)
        gate_id = uuid.uuid4().hex[:12]
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_WRITE)
            version_pk = self.registry.version_pk(conn, project_pk, version.model, version.version)
            if self.store.open_for(conn, version_pk) is not None:
                raise Conflict(
                    f"{project}/{version.model}@{version.version} already has an open gate: "
                    "sign it, or cancel it first"
                )
            self.store.insert(
                conn,
                gate_id=gate_id,
                project_pk=project_pk,
                version_pk=version_pk,
                from_stage=version.stage.value,
                to_stage=data.to.value,
                by=principal.name,
                now=now_ms(),
            )
            policies = self.plan.gate_policies(conn, project_pk)
            letters = policies.get(data.to, GatePolicy()).signers
            row_of_raci = self.plan.raci_rows(conn, project_pk).get(ACTIVITY[data.to], {})
            signers = [m for m, letter in row_of_raci.items() if letter in letters]
            self.notifier.notify(
                conn,
                outbox,
                project,
                project_pk,
                signers,
                "sign-off",
                f"your sign-off is needed on {version.model}@{version.version} -> {data.to.value}",
                f"/projects/{project}/gates/{gate_id}",
            )
            self.audit.record(
                conn,
                principal,
                "gate.open",
                f"{project}/{version.model}@{version.version}",
                project=project,
                gate=gate_id,
                to=data.to.value,
            )
        self.notifier.deliver(outbox)
        return self.get(principal, project, gate_id)

    def get(self, principal: Principal, project: str, gate_id: str) -> Gate:
        """A gate with its checklist: live while open, as it stood when it closed after."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._row(conn, project_pk, project, gate_id)
            signoffs = self.store.signoffs(conn, row.pk)
        return self._gate(principal, project, row, signoffs)

    def list_gates(
        self, principal: Principal, project: str, *, status: GateStatus | None = GateStatus.OPEN
    ) -> list[Gate]:
        """The project's gates (open ones by default), newest first."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            rows = self._named(conn, self.store.of_project(conn, project_pk, status))
            signoffs = {row.pk: self.store.signoffs(conn, row.pk) for row in rows}
        return [self._gate(principal, project, row, signoffs[row.pk]) for row in rows]

    def check(self, principal: Principal, project: str, model: str, to: Stage) -> Gate:
        """Whether moving `model` to `to` would pass now: its open gate for that move, or, if
        none is open, the gate it would open (with no sign-offs yet). Changes nothing."""
        self.auth.require(principal, Action.MODEL_READ, project)
        ref = parse_model_ref(model, project)
        version = self.registry.get_version(principal, project, ref.name, _selector(ref))
        self._check_move(version, to)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._open_row(conn, project_pk, version)
            if row is not None and Stage(row.to_stage) is to:
                return self._gate(principal, project, row, self.store.signoffs(conn, row.pk))
        hypothetical = GateRow(
            pk=0,
            id="",
            model_version_pk=0,
            from_stage=version.stage.value,
            to_stage=to.value,
            status=GateStatus.OPEN.value,
            opened_at=now_ms(),
            opened_by=principal.name,
            closed_at=None,
            closed_by=None,
            reason="",
            outcome=None,
            model=version.model,
            version=version.version,
        )
        return self._gate(principal, project, hypothetical, [])

    # -- signing ------------------------------------------------------------------------

    def sign(self, principal: Principal, project: str, gate_id: str, data: SignOffCreate) -> Gate:
        """Approve or reject a gate, as yourself. The approval that completes a gate whose
        checklist holds passes it and moves the version.

        Raises:
            PermissionDenied: you are not a member the gate needs a sign-off from.
            Conflict: the gate is closed, or you signed it already.
            InvalidInput: a rejection without a comment.
        """
        gate = self.get(principal, project, gate_id)  # read access, and the required signers
        raci = self.plan.get_raci(principal, project)
        letter = next(
            (x for x in ("A", "R") if principal.name in raci.with_letter(gate.activity, x)),
            None,
        )
        if principal.name not in gate.required or letter is None:
            raise PermissionDenied(
                f"{principal.name} is not among the members who sign this gate "
                f"({', '.join(gate.required) or 'the RACI names none'}): the RACI marks the "
                f"accountable member of {gate.activity!r}",
                project=project,
            )
        self._require_open(gate)  # rules and state only once the signer is known to be one
        comment = check_text(data.comment, "comment", 10_000).strip()
        if data.decision is SignDecision.REJECT and not comment:
            raise InvalidInput("a rejection needs a comment saying why")
        role = principal.role_in(project)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project_pk, project, gate_id)
            if GateStatus(row.status) is not GateStatus.OPEN:
                raise Conflict(f"gate {gate_id} is {row.status}: it can no longer be signed")
            if any(s.member == principal.name for s in self.store.signoffs(conn, row.pk)):
                raise Conflict(f"{principal.name} has signed gate {gate_id} already")
            signoff = SignOff(
                member=principal.name,
                role=role.value if role else "owner",
                letter=letter,
                decision=data.decision,
                comment=comment,
                at=now_ms(),
            )
            self.store.add_signoff(conn, row.pk, signoff)
            self.audit.record(
                conn,
                principal,
                f"gate.{data.decision.value}",
                f"{project}/gates/{gate_id}",
                project=project,
                comment=comment[:500],
            )
            if data.decision is SignDecision.REJECT:
                self._close(conn, principal, project, row, GateStatus.REJECTED, comment, None)
        if data.decision is SignDecision.REJECT:
            return self.get(principal, project, gate_id)
        return self._complete(principal, project, gate_id, after_sign=True)

    def complete(self, principal: Principal, project: str, gate_id: str) -> Gate:
        """Pass the gate if everything holds now (evidence may have arrived since the last
        sign-off), moving its version; else return it, open, saying what is missing. Asking
        needs `model:write`; the sign-offs are what authorise the move."""
        self.auth.require(principal, Action.MODEL_WRITE, project)
        return self._complete(principal, project, gate_id)

    def _complete(
        self, principal: Principal, project: str, gate_id: str, *, after_sign: bool = False
    ) -> Gate:
        """`after_sign`: another signer's approval may have passed the gate since this one was
        stored; that is their success, not this signer's error."""
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project_pk, project, gate_id)
            if GateStatus(row.status) is GateStatus.OPEN:
                gate = self._gate(principal, project, row, self.store.signoffs(conn, row.pk))
                if not gate.passes:
                    return gate
                self._close(conn, principal, project, row, GateStatus.PASSED, "", gate)
                self.registry.move_by_gate(
                    conn,
                    principal,
                    project,
                    gate.model,
                    row.model_version_pk,
                    gate.to_stage,
                    gate_id,
                )
                return gate.model_copy(update={"status": GateStatus.PASSED})
            if not after_sign:
                raise Conflict(f"gate {gate_id} is {row.status}")
        return self.get(principal, project, gate_id)  # read once the lock is released

    def move_stage(
        self, principal: Principal, project: str, name: str, selector: str, stage: Stage
    ) -> ModelVersion:
        """Move a version to `stage` the way every face does: back to draft directly; forward
        (or to retired) only through its gate, which must be open for that move and pass now.

        Raises:
            Conflict: no gate is open for the move, or it does not pass yet (the message says
                what it waits for).
        """
        self.auth.require(principal, Action.MODEL_WRITE, project)  # every move needs it
        version = self.registry.get_version(principal, project, name, selector)
        if stage not in CHECKLISTS or stage is version.stage:
            return self.registry.set_stage(principal, project, name, selector, stage)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_WRITE)
            row = self._open_row(conn, project_pk, version)
        target = f"{name}@{version.version}"
        if row is None or Stage(row.to_stage) is not stage:
            raise Conflict(
                f"moving {target} to {stage.value} goes through a gate: open it with "
                f"`tandem gate open {target} --to {stage.value}`"
            )
        gate = self._complete(principal, project, row.id)
        if gate.status is not GateStatus.PASSED:
            missing = [f"{i.key}: {i.detail}" for i in gate.checklist if not i.holds]
            raise Conflict(
                f"gate {gate.id} for {target} -> {stage.value} does not pass yet: "
                + "; ".join(missing),
                gate=gate.id,
            )
        return self.registry.get_version(principal, project, name, str(version.version))

    def cancel(self, principal: Principal, project: str, gate_id: str, reason: str) -> Gate:
        """Withdraw an open gate (its opener, or a role that may release models)."""
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project_pk, project, gate_id)
            if row.opened_by != principal.name:
                self.auth.require(principal, Action.MODEL_RELEASE, project)
            reason = check_text(reason, "reason", 10_000).strip()
            if GateStatus(row.status) is not GateStatus.OPEN:
                raise Conflict(f"gate {gate_id} is {row.status} already")
            self._close(
                conn, principal, project, row, GateStatus.CANCELLED, reason or "cancelled", None
            )
        return self.get(principal, project, gate_id)

    # -- releases: the stage side of production traffic ------------------------------------

    def release_gate(self, conn: Connection, version_pk: int) -> str | None:
        """The id of the gate that released a version (its newest passed gate to
        ready-for-production or production), for the deployment history's evidence; None for
        a version whose stage was set without one."""
        row = self.store.newest_passed(
            conn, version_pk, (Stage.READY_FOR_PRODUCTION.value, Stage.PRODUCTION.value)
        )
        return None if row is None else row.id

    def release_check(
        self, principal: Principal, project: str, model: str, selector: str
    ) -> ModelVersion:
        """The version `model@selector` if it may take production traffic: it passed its gate
        to ready-for-production, or is in production. The deployments domain asks before a
        production endpoint deploys it.

        Raises:
            Conflict: any other stage; the message names the stage and the version's open gate
                with what it waits for, or the `tandem gate open` command that starts it.
        """
        version = self.registry.get_version(principal, project, model, selector)
        if version.stage in RELEASABLE:
            return version
        target = f"{version.model}@{version.version}"
        refused = (
            f"{target} is {version.stage.value}: a production endpoint takes only a version that "
            "passed its gate to ready-for-production"
        )
        if version.stage is Stage.RETIRED:
            raise Conflict(f"{refused}; a retired version stays retired: register a new one")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._open_row(conn, project_pk, version)
        if row is not None:
            gate = self.get(principal, project, row.id)
            missing = [f"{i.key}: {i.detail}" for i in gate.checklist if not i.holds]
            waits = (
                f"waits for {'; '.join(missing)}"
                if missing
                else f"passes: `tandem models stage {target} {gate.to_stage.value} -p {project}`"
            )
            raise Conflict(
                f"{refused}; its gate {gate.id} to {gate.to_stage.value} is open and {waits}",
                stage=version.stage.value,
                gate=gate.id,
            )
        after = next(iter(NEXT[version.stage]))
        command = f"tandem gate open {target} --to {after.value} -p {project}"
        raise Conflict(
            f"{refused}; open its gate with `{command}`",
            stage=version.stage.value,
            command=command,
        )

    def record_release(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        *,
        released_version_pk: int,
        replaced_version_pk: int | None,
        endpoint: str,
        evidence: dict[str, Any],
    ) -> list[str]:
        """Record a release that completed on production endpoint `endpoint`, inside the
        deployment's transaction, after it wrote the endpoint's new weights: the released
        version becomes `production`; the one it replaced goes back to `ready-for-production`
        unless a production endpoint still serves it (read in this transaction), and the
        model's alias `rollback` points at it. Audited (`model.release`, with `evidence`). No
        permission check: the deployment checked `deployment:release`.

        Returns:
            What changed, one line each (for the deployment event's evidence).

        Raises:
            Conflict: the released version is not ready-for-production or production.
            NotFound: a version key that is not in the project.
        """
        return self.releases.record_release(
            conn, principal, project, self.rollback_targets,
            released_version_pk=released_version_pk, replaced_version_pk=replaced_version_pk,
            endpoint=endpoint, evidence=evidence,
        )  # fmt: skip

    def record_rollback(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        *,
        restored_version_pk: int,
        withdrawn_version_pk: int,
        endpoint: str,
    ) -> list[str]:
        """Record a rollback on production endpoint `endpoint`, inside the deployment's
        transaction: the restored version becomes `production` again (a rollback is never
        refused: one that left the release stages stays where it is, and the audit says so);
        the withdrawn one goes back to `ready-for-production` unless a production endpoint
        still serves it (call it after writing the endpoint's new weights); the alias
        `rollback` leaves the restored version. Audited (`model.rollback`). No permission
        check: the deployment checked its own.

        Returns:
            What changed, one line each.
        """
        return self.releases.record_rollback(
            conn, principal, project, self.rollback_targets,
            restored_version_pk=restored_version_pk, withdrawn_version_pk=withdrawn_version_pk,
            endpoint=endpoint,
        )  # fmt: skip

    # -- waivers ----------------------------------------------------------------------------

    def waive(self, principal: Principal, project: str, gate_id: str, data: WaiverCreate) -> Gate:
        """Waive criterion `data.criterion` for the gate's version. Only the criterion's owner
        role may; the reason is recorded as an accepted decision record linked to both."""
        gate = self.get(principal, project, gate_id)
        criteria = {c.key: c for c in self.plan.list_criteria(principal, project)}
        criterion = criteria.get(data.criterion)
        if criterion is None:
            raise NotFound(f"project {project!r} has no criterion {data.criterion!r}")
        role = principal.role_in(project)
        if not _may_waive(principal, role, criterion):
            raise PermissionDenied(
                f"only the criterion's owner role ({criterion.owner}) may waive "
                f"{criterion.key!r}; {principal.name} is "
                f"{role.value if role else 'not a member'}",
                project=project,
            )
        self._require_open(gate)
        reason = check_text(data.reason, "reason", 20_000).strip()
        target = f"models/{gate.model}@{gate.version}"
        record = DecisionCreate(
            title=f"Waive {criterion.key} for {gate.model}@{gate.version}",
            context=f"Criterion {criterion.key} ({criterion.check}) for {target}, "
            f"gate {gate.id} to {gate.to_stage.value}.",
            decision=reason,
            links=[target, f"criteria/{criterion.key}", f"gates/{gate.id}"],
            accept=True,
        )
        now = now_ms()
        try:
            with self.db.write() as conn:
                project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
                row = self._lock(conn, project_pk, project, gate_id)
                decision_pk, number = self.decisions.record(
                    conn, principal, project, project_pk, record
                )
                self.store.add_waiver(
                    conn,
                    row.model_version_pk,
                    criterion.key,
                    decision_pk=decision_pk,
                    by=principal.name,
                    role=role.value if role else "owner",
                    now=now,
                )
                self.audit.record(
                    conn,
                    principal,
                    "criterion.waive",
                    f"{project}/{target}",
                    project=project,
                    criterion=criterion.key,
                    decision=number,
                    gate=gate.id,
                )
        except AlreadyExists:
            raise Conflict(f"{criterion.key!r} is waived for {target} already") from None
        return self.get(principal, project, gate_id)

    def waivable(self, principal: Principal, project: str) -> list[Criterion]:
        """The criteria `principal` may waive: those their project role owns."""
        role = principal.role_in(project)
        return [
            c for c in self.plan.list_criteria(principal, project) if _may_waive(principal, role, c)
        ]

    def waivers(self, conn: Connection, version_pk: int) -> dict[str, int]:
        """The criteria waived for a version, with the number of the decision that waived each."""
        by_pk = self.store.waivers(conn, version_pk)
        numbers = self.decisions.numbers(conn, set(by_pk.values()))
        return {c: numbers[pk] for c, pk in by_pk.items() if pk in numbers}

    # -- the project's own items ---------------------------------------------------------------

    def _policy(self, principal: Principal, project: str, to: Stage) -> GatePolicy:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            return self.plan.gate_policies(conn, project_pk).get(to, GatePolicy())

    def _project_items(self, row: GateRow, policy: GatePolicy) -> list[ChecklistItem]:
        """The project's own items, each holding once a member of its role attested it."""
        if not policy.items:
            return []
        attested = {}
        if row.pk:  # stored
            with self.db.read() as conn:
                attested = self.store.attestations(conn, row.pk)
        items = []
        for item in policy.items:
            found = attested.get(item.key)
            if found is None:
                detail = f"waiting for a {item.attested_by} to attest it"
            else:
                note = f": {found.comment}" if found.comment else ""
                detail = f"attested by {found.member} ({found.role}){note}"
            items.append(
                ChecklistItem(
                    key=CUSTOM_PREFIX + item.key,
                    title=item.title,
                    holds=found is not None,
                    detail=detail,
                )
            )
        return items

    def attestable(self, principal: Principal, project: str, gate: Gate) -> list[PolicyItem]:
        """The project's own items on an open gate that `principal` may attest now."""
        if gate.status is not GateStatus.OPEN:
            return []
        held = {i.key for i in gate.checklist if i.holds}
        role = principal.role_in(project)
        return [
            item
            for item in self._policy(principal, project, gate.to_stage).items
            if CUSTOM_PREFIX + item.key not in held
            and (principal.is_superuser or (role is not None and role.value == item.attested_by))
        ]

    def attest(self, principal: Principal, project: str, gate_id: str, data: Attestation) -> Gate:
        """Attest one of the project's own checklist items on a gate, as a member of the role
        the item names (`gates:` in project.yaml)."""
        gate = self.get(principal, project, gate_id)
        item = next(
            (
                i
                for i in self._policy(principal, project, gate.to_stage).items
                if i.key == data.item
            ),
            None,
        )
        if item is None:
            raise NotFound(
                f"the {gate.to_stage.value} gate of {project!r} has no item {data.item!r}"
            )
        role = principal.role_in(project)
        if not principal.is_superuser and (role is None or role.value != item.attested_by):
            raise PermissionDenied(
                f"only a {item.attested_by} attests {item.key!r}; {principal.name} is "
                f"{role.value if role else 'not a member'}",
                project=project,
            )
        self._require_open(gate)
        comment = check_text(data.comment, "comment", 10_000).strip()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project_pk, project, gate_id)
            member = self.store.attested_by(conn, row.pk, item.key)
            if member is not None:
                raise Conflict(f"{item.key!r} was attested on gate {gate_id} by {member} already")
            self.store.add_attestation(
                conn,
                row.pk,
                item.key,
                member=principal.name,
                role=role.value if role else "owner",
                comment=comment,
                now=now_ms(),
            )
            self.audit.record(
                conn,
                principal,
                "gate.attest",
                f"{project}/gates/{gate_id}",
                project=project,
                item=item.key,
            )
        return self.get(principal, project, gate_id)

    # -- the checklist --------------------------------------------------------------------

    def _gate(
        self, principal: Principal, project: str, row: GateRow, signoffs: list[SignOff]
    ) -> Gate:
        to = Stage(row.to_stage)
        activity = ACTIVITY[to]
        raci = self.plan.get_raci(principal, project)
        policy = self._policy(principal, project, to)
        # someone the RACI still names but who has left the project signs nothing
        members = self.plan.member_names(project)
        named = {m for letter in policy.signers for m in raci.with_letter(activity, letter)}
        required, departed = sorted(named & members), sorted(named - members)
        base = Gate(
            id=row.id,
            project=project,
            model=row.model,
            version=row.version,
            from_stage=Stage(row.from_stage),
            to_stage=to,
            status=GateStatus(row.status),
            activity=activity,
            opened_at=row.opened_at,
            opened_by=row.opened_by,
            closed_at=row.closed_at,
            closed_by=row.closed_by,
            reason=row.reason,
            required=required,
            signoffs=signoffs,
        )
        if base.status is not GateStatus.OPEN and row.outcome:
            stored = Gate.model_validate_json(row.outcome)
            return base.model_copy(
                update={
                    "checklist": stored.checklist,
                    "required": stored.required,
                    "passes": stored.passes,
                }
            )
        approved = {s.member for s in signoffs if s.decision is SignDecision.APPROVE}
        waiting = [m for m in required if m not in approved]
        checklist = self._checklist(principal, project, row, to, raci, required, waiting, departed)
        checklist[-1:-1] = self._project_items(row, policy)  # before the sign-offs
        passes = all(item.holds for item in checklist)
        return base.model_copy(
            update={"checklist": checklist, "waiting_for": waiting, "passes": passes}
        )

    def _checklist(
        self,
        principal: Principal,
        project: str,
        row: GateRow,
        to: Stage,
        raci: Raci,
        required: list[str],
        waiting: list[str],
        departed: list[str],
    ) -> list[ChecklistItem]:
        evidence = self.plan.evidence(principal, project, row.model, str(row.version))
        version = evidence.version
        training = training_data(principal, version, self.data)
        fresh, stale = fresh_evaluations(principal, version, evidence.evaluations, self.data)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            version_pk = self.registry.version_pk(conn, project_pk, version.model, version.version)
            waived = self.waivers(conn, version_pk)
            serving = self._serving(conn, project_pk, version.model)
        context = ItemContext(
            principal=principal,
            project=project,
            to=to,
            version=version,
            evidence=evidence,
            training=training,
            fresh=fresh,
            stale=stale,
            waived=waived,
            serving=serving,
            raci=raci,
            required=required,
            waiting=waiting,
            departed=departed,
            registry=self.registry,
            data=self.data,
            tracking=self.tracking,
            decisions=self.decisions,
            monitoring=(
                self.monitoring_plans.monitoring_plan(principal, project, version.model)
                if self.monitoring_plans is not None
                else None
            ),
        )
        return evaluate(CHECKLISTS[to], context)

    def _serving(self, conn: Connection, project_pk: int, model: str) -> list[int]:
        """The versions of `model` taking production traffic (none before the container wired
        the deployments domain in)."""
        if self.rollback_targets is None:
            return []
        pks = self.rollback_targets.serving_versions(conn, project_pk)
        rows = self.registry.versions_by_pk(conn, sorted(pks)).values()
        return sorted(int(row.version) for row in rows if row.name == model)

    # -- rows -------------------------------------------------------------------------------

    @staticmethod
    def _check_move(version: ModelVersion, to: Stage) -> None:
        if to not in CHECKLISTS:
            raise InvalidInput(f"moving to {to.value} is not gated: use `tandem models stage`")
        allowed = NEXT.get(version.stage, set()) | (
            {Stage.RETIRED} if version.stage is not Stage.RETIRED else set()
        )
        if to not in allowed:
            raise Conflict(
                f"{version.model}@{version.version} is {version.stage.value}: it cannot move to "
                f"{to.value} (gates move one stage forward, or retire)"
            )

    def _named(self, conn: Connection, rows: list[GateRow]) -> list[GateRow]:
        """`rows` with their version's model name and number (from the registry)."""
        names = self.registry.version_names(conn, {r.model_version_pk for r in rows})
        return [
            replace(r, model=names[r.model_version_pk][0], version=names[r.model_version_pk][1])
            for r in rows
            if r.model_version_pk in names
        ]

    def _row(self, conn: Connection, project_pk: int, project: str, gate_id: str) -> GateRow:
        row = self.store.get(conn, project_pk, gate_id)
        named = self._named(conn, [row]) if row is not None else []
        if not named:
            raise NotFound(f"project {project!r} has no gate {gate_id!r}")
        return named[0]

    def _lock(self, conn: Connection, project_pk: int, project: str, gate_id: str) -> GateRow:
        """The gate's row, locked until the transaction ends (PostgreSQL; SQLite's writes
        are serialised already), so its sign-offs are decided one at a time."""
        self.store.lock(conn, project_pk, gate_id)
        return self._row(conn, project_pk, project, gate_id)

    def _open_row(self, conn: Connection, project_pk: int, version: ModelVersion) -> GateRow | None:
        """The version's open gate, if it has one."""
        version_pk = self.registry.version_pk(conn, project_pk, version.model, version.version)
        row = self.store.open_for(conn, version_pk)
        if row is None:
            return None
        return replace(row, model=version.model, version=version.version)

    def _close(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        row: GateRow,
        status: GateStatus,
        reason: str,
        gate: Gate | None,
    ) -> None:
        self.store.close(
            conn,
            row.pk,
            status,
            by=principal.name,
            now=now_ms(),
            reason=reason,
            outcome=gate.model_dump_json() if gate is not None else None,
        )
        self.audit.record(
            conn,
            principal,
            f"gate.{status.value}",
            f"{project}/gates/{row.id}",
            project=project,
            reason=reason[:500],
        )

    @staticmethod
    def _require_open(gate: Gate) -> None:
        if gate.status is not GateStatus.OPEN:
            raise Conflict(f"gate {gate.id} is {gate.status.value}: it can no longer change")

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's rows go with it, inside gc's transaction (gc checked)."""
        self.store.purge_project(conn, project_pk)


def _may_waive(principal: Principal, role: Role | None, criterion: Criterion) -> bool:
    return principal.is_superuser or (role is not None and role.value == criterion.owner)


def _selector(ref: Any) -> str:
    return str(ref.version) if ref.version is not None else ref.alias or "latest"
