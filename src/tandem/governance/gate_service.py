"""GateService: gates on model version stages, their checklists and sign-offs, criterion
waivers, and decision records.

Rules, all checked here so every face enforces them:
- Opening a gate needs `model:write`; one gate per version is open at a time.
- Only the members the RACI marks Accountable for the gate's activity sign it, each for
  themselves; a rejection needs a comment and closes the gate.
- The checklist is evaluated from evidence whenever the gate is read. Evidence is stale, and
  does not count, when its evaluation used a dataset version that failed its contract or
  predates the model version.
- A gate passes only when every item holds and every required member approved; passing moves
  the version in the same transaction. Sign-offs on one gate are serialised on the gate's row,
  so two last approvals cannot both miss the pass.
- A criterion is waived only by its owner role, and the waiver is an accepted decision record.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal, Role
from tandem.core.clock import now_ms
from tandem.core.refs import parse_model_ref
from tandem.core.validation import check_text
from tandem.data.service import DataService
from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.evaluation.models import Evaluation
from tandem.governance.gates import (
    ACTIVITY,
    CHECKLISTS,
    CUSTOM_PREFIX,
    ITEM_TITLES,
    MONITORING_ACTIVITY,
    ROLLBACK_ALIAS,
    Attestation,
    ChecklistItem,
    DecisionCreate,
    DecisionRecord,
    DecisionStatus,
    Gate,
    GateOpen,
    GateStatus,
    Item,
    SignDecision,
    SignOff,
    SignOffCreate,
    WaiverCreate,
    check_links,
)
from tandem.governance.notify import Notifier, Outbox
from tandem.governance.plan.models import (
    Criterion,
    CriterionKind,
    GatePolicy,
    PolicyItem,
    Verdict,
)
from tandem.governance.plan.scorecard import judge
from tandem.governance.plan.service import Evidence, PlanService
from tandem.governance.tables import (
    criterion_waivers,
    decisions,
    gate_attestations,
    gate_signoffs,
    gates,
)
from tandem.projects.store import ProjectStore
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
TRAINING_ROLES = ("train", "input")
_RELEASE_KINDS = (CriterionKind.PRODUCT, CriterionKind.FAIRNESS, CriterionKind.SYSTEM)


class GateService:
    def __init__(
        self,
        db: Any,
        project_store: ProjectStore,
        governance: PlanService,
        registry: RegistryService,
        data: DataService,
        tracking: TrackingService,
        auth: Authorizer,
        audit: AuditLog,
        notifier: Notifier,
    ) -> None:
        self.notifier = notifier
        self.db = db
        self.project_store = project_store
        self.governance = governance
        self.registry = registry
        self.data = data
        self.tracking = tracking
        self.auth = auth
        self.audit = audit

    def _project_pk(
        self, conn: Connection, principal: Principal, project: str, action: Action
    ) -> int:
        self.auth.require(principal, action, project)
        return self.project_store.get_pk(conn, project)

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
            project_pk = self._project_pk(conn, principal, project, Action.MODEL_WRITE)
            version_pk = self._version_pk(conn, project_pk, version)
            if self._open_row(conn, version_pk) is not None:
                raise Conflict(
                    f"{project}/{version.model}@{version.version} already has an open gate: "
                    "sign it, or cancel it first"
                )
            conn.execute(
                insert(gates).values(
                    id=gate_id,
                    project_pk=project_pk,
                    model_version_pk=version_pk,
                    from_stage=version.stage.value,
                    to_stage=data.to.value,
                    status=GateStatus.OPEN.value,
                    opened_at=now_ms(),
                    opened_by=principal.name,
                    reason="",
                )
            )
            letters = (
                self.governance.gate_policies(conn, project_pk).get(data.to, GatePolicy()).signers
            )
            row_of_raci = self.governance.raci_rows(conn, project_pk).get(ACTIVITY[data.to], {})
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
            self._project_pk(conn, principal, project, Action.MODEL_READ)
            row = self._row(conn, project, gate_id)
            signoffs = self._signoffs(conn, row.pk)
        return self._gate(principal, project, row, signoffs)

    def list_gates(
        self, principal: Principal, project: str, *, status: GateStatus | None = GateStatus.OPEN
    ) -> list[Gate]:
        """The project's gates (open ones by default), newest first."""
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.MODEL_READ)
            query = self._query().where(gates.c.project_pk == project_pk)
            if status is not None:
                query = query.where(gates.c.status == status.value)
            rows = conn.execute(query.order_by(gates.c.pk.desc()).limit(200)).all()
            signoffs = {row.pk: self._signoffs(conn, row.pk) for row in rows}
        return [self._gate(principal, project, row, signoffs[row.pk]) for row in rows]

    def check(self, principal: Principal, project: str, model: str, to: Stage) -> Gate:
        """Whether moving `model` to `to` would pass now: its open gate for that move, or, if
        none is open, the gate it would open (with no sign-offs yet). Changes nothing."""
        self.auth.require(principal, Action.MODEL_READ, project)
        ref = parse_model_ref(model, project)
        version = self.registry.get_version(principal, project, ref.name, _selector(ref))
        self._check_move(version, to)
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.MODEL_READ)
            row = self._open_row(conn, self._version_pk(conn, project_pk, version))
            if row is not None and Stage(row.to_stage) is to:
                return self._gate(principal, project, row, self._signoffs(conn, row.pk))
        now = now_ms()
        hypothetical = {
            "id": "",
            "model": version.model,
            "version": version.version,
            "from_stage": version.stage.value,
            "to_stage": to.value,
            "status": GateStatus.OPEN.value,
            "opened_at": now,
            "opened_by": principal.name,
            "closed_at": None,
            "closed_by": None,
            "reason": "",
            "outcome": None,
        }
        return self._gate(principal, project, _Row(hypothetical), [])

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
        raci = self.governance.get_raci(principal, project)
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
            row = self._lock(conn, project, gate_id)
            if GateStatus(row.status) is not GateStatus.OPEN:
                raise Conflict(f"gate {gate_id} is {row.status}: it can no longer be signed")
            if any(s.member == principal.name for s in self._signoffs(conn, row.pk)):
                raise Conflict(f"{principal.name} has signed gate {gate_id} already")
            conn.execute(
                insert(gate_signoffs).values(
                    gate_pk=row.pk,
                    member=principal.name,
                    role=role.value if role else "owner",
                    letter=letter,
                    decision=data.decision.value,
                    comment=comment,
                    at=now_ms(),
                )
            )
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
            self._project_pk(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project, gate_id)
            if GateStatus(row.status) is GateStatus.OPEN:
                gate = self._gate(principal, project, row, self._signoffs(conn, row.pk))
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
            project_pk = self.project_store.get_pk(conn, project)
            row = self._open_row(conn, self._version_pk(conn, project_pk, version))
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
            self._project_pk(conn, principal, project, Action.MODEL_READ)
            row = self._lock(conn, project, gate_id)
            if row.opened_by != principal.name:
                self.auth.require(principal, Action.MODEL_RELEASE, project)
            reason = check_text(reason, "reason", 10_000).strip()
            if GateStatus(row.status) is not GateStatus.OPEN:
                raise Conflict(f"gate {gate_id} is {row.status} already")
            self._close(
                conn, principal, project, row, GateStatus.CANCELLED, reason or "cancelled", None
            )
        return self.get(principal, project, gate_id)

    # -- waivers ----------------------------------------------------------------------------

    def waive(self, principal: Principal, project: str, gate_id: str, data: WaiverCreate) -> Gate:
        """Waive criterion `data.criterion` for the gate's version. Only the criterion's owner
        role may; the reason is recorded as an accepted decision record linked to both."""
        gate = self.get(principal, project, gate_id)
        criteria = {c.key: c for c in self.governance.list_criteria(principal, project)}
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
                project_pk = self._project_pk(conn, principal, project, Action.MODEL_READ)
                row = self._lock(conn, project, gate_id)
                decision_pk, number = self._insert_decision(
                    conn, principal, project, project_pk, record
                )
                conn.execute(
                    insert(criterion_waivers).values(
                        model_version_pk=row.model_version_pk,
                        criterion=criterion.key,
                        decision_pk=decision_pk,
                        waived_by=principal.name,
                        role=role.value if role else "owner",
                        at=now,
                    )
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
        except IntegrityError:
            raise Conflict(f"{criterion.key!r} is waived for {target} already") from None
        return self.get(principal, project, gate_id)

    def waivable(self, principal: Principal, project: str) -> list[Criterion]:
        """The criteria `principal` may waive: those their project role owns."""
        role = principal.role_in(project)
        return [
            c
            for c in self.governance.list_criteria(principal, project)
            if _may_waive(principal, role, c)
        ]

    def waivers(self, conn: Connection, version_pk: int) -> dict[str, int]:
        """The criteria waived for a version, with the number of the decision that waived each."""
        rows = conn.execute(
            select(criterion_waivers.c.criterion, decisions.c.number)
            .join(decisions, decisions.c.pk == criterion_waivers.c.decision_pk)
            .where(criterion_waivers.c.model_version_pk == version_pk)
        ).all()
        return {r.criterion: r.number for r in rows}

    # -- decision records ---------------------------------------------------------------

    def create_decision(
        self, principal: Principal, project: str, data: DecisionCreate
    ) -> DecisionRecord:
        """Record a decision (proposed, or accepted with you as approver); `supersedes` marks
        an accepted one superseded by this."""
        self.auth.require(principal, Action.PLAN_WRITE, project)
        for name, value in data.model_dump(
            include={"context", "options", "decision", "consequences"}
        ).items():
            check_text(value, name, 50_000)
        check_links(data.links)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            _, number = self._insert_decision(conn, principal, project, project_pk, data)
            return self._decision(conn, project_pk, project, number)

    def accept_decision(self, principal: Principal, project: str, number: int) -> DecisionRecord:
        """Accept a proposed decision, as its approver; accepted ones never change again."""
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            record = self._decision(conn, project_pk, project, number)
            if record.status is not DecisionStatus.PROPOSED:
                raise Conflict(f"decision {number} is {record.status.value}: it cannot change")
            conn.execute(
                update(decisions)
                .where(decisions.c.project_pk == project_pk, decisions.c.number == number)
                .values(
                    status=DecisionStatus.ACCEPTED.value,
                    accepted_at=now_ms(),
                    approvers=orjson.dumps([principal.name]).decode(),
                )
            )
            self.audit.record(
                conn, principal, "decision.accept", f"{project}/decisions/{number}", project=project
            )
            return self._decision(conn, project_pk, project, number)

    def list_decisions(
        self, principal: Principal, project: str, *, q: str | None = None, link: str | None = None
    ) -> list[DecisionRecord]:
        """Decisions, newest first; `q` searches title, context and decision text, `link`
        keeps those linked to one reference."""
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            query = select(decisions).where(decisions.c.project_pk == project_pk)
            if q:
                pattern = f"%{q.lower()}%"
                query = query.where(
                    or_(
                        *(
                            func.lower(c).like(pattern)
                            for c in (decisions.c.title, decisions.c.context, decisions.c.decision)
                        )
                    )
                )
            rows = conn.execute(query.order_by(decisions.c.number.desc()).limit(500)).all()
        found = [_decision_model(r, project) for r in rows]
        return [d for d in found if link is None or link in d.links]

    def get_decision(self, principal: Principal, project: str, number: int) -> DecisionRecord:
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            return self._decision(conn, project_pk, project, number)

    def _insert_decision(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        project_pk: int,
        data: DecisionCreate,
    ) -> tuple[int, int]:
        number = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(decisions.c.number), 0)).where(
                        decisions.c.project_pk == project_pk
                    )
                ).scalar_one()
            )
            + 1
        )
        now = now_ms()
        status = DecisionStatus.ACCEPTED if data.accept else DecisionStatus.PROPOSED
        inserted = conn.execute(
            insert(decisions).values(
                project_pk=project_pk,
                number=number,
                title=data.title.strip(),
                context=data.context,
                options=data.options,
                decision=data.decision,
                consequences=data.consequences,
                status=status.value,
                links=orjson.dumps(check_links(data.links)).decode(),
                approvers=orjson.dumps([principal.name] if data.accept else []).decode(),
                created_at=now,
                created_by=principal.name,
                accepted_at=now if data.accept else None,
            )
        ).inserted_primary_key
        if data.supersedes is not None:
            old = conn.execute(
                select(decisions).where(
                    decisions.c.project_pk == project_pk, decisions.c.number == data.supersedes
                )
            ).first()
            if old is None:
                raise NotFound(f"there is no decision {data.supersedes} to supersede")
            if old.status != DecisionStatus.ACCEPTED.value:
                raise Conflict(
                    f"decision {data.supersedes} is {old.status}; "
                    "only an accepted one is superseded"
                )
            conn.execute(
                update(decisions)
                .where(decisions.c.pk == old.pk)
                .values(status=DecisionStatus.SUPERSEDED.value, superseded_by=number)
            )
        self.audit.record(
            conn,
            principal,
            "decision.create",
            f"{project}/decisions/{number}",
            project=project,
            status=status.value,
        )
        assert inserted is not None
        return int(inserted[0]), number

    def _decision(
        self, conn: Connection, project_pk: int, project: str, number: int
    ) -> DecisionRecord:
        row = conn.execute(
            select(decisions).where(
                decisions.c.project_pk == project_pk, decisions.c.number == number
            )
        ).first()
        if row is None:
            raise NotFound(f"project {project!r} has no decision {number}")
        return _decision_model(row, project)

    # -- the checklist --------------------------------------------------------------------

    def _gate(self, principal: Principal, project: str, row: Any, signoffs: list[SignOff]) -> Gate:
        to = Stage(row.to_stage)
        activity = ACTIVITY[to]
        raci = self.governance.get_raci(principal, project)
        policy = self._policy(project, to)
        # someone the RACI still names but who has left the project signs nothing
        members = self.governance.member_names(project)
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

    def _policy(self, project: str, to: Stage) -> GatePolicy:
        with self.db.read() as conn:
            project_pk = self.project_store.get_pk(conn, project)
            return self.governance.gate_policies(conn, project_pk).get(to, GatePolicy())

    def _project_items(self, row: Any, policy: GatePolicy) -> list[ChecklistItem]:
        """The project's own items, each holding once a member of its role attested it."""
        if not policy.items:
            return []
        attested = {}
        if getattr(row, "pk", None) is not None:
            with self.db.read() as conn:
                rows = conn.execute(
                    select(gate_attestations).where(gate_attestations.c.gate_pk == row.pk)
                ).all()
            attested = {r.item: r for r in rows}
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
            for item in self._policy(project, gate.to_stage).items
            if CUSTOM_PREFIX + item.key not in held
            and (principal.is_superuser or (role is not None and role.value == item.attested_by))
        ]

    def attest(self, principal: Principal, project: str, gate_id: str, data: Attestation) -> Gate:
        """Attest one of the project's own checklist items on a gate, as a member of the role
        the item names (`gates:` in project.yaml)."""
        gate = self.get(principal, project, gate_id)
        item = next(
            (i for i in self._policy(project, gate.to_stage).items if i.key == data.item), None
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
            row = self._lock(conn, project, gate_id)
            exists = conn.execute(
                select(gate_attestations.c.member).where(
                    gate_attestations.c.gate_pk == row.pk, gate_attestations.c.item == item.key
                )
            ).first()
            if exists is not None:
                raise Conflict(
                    f"{item.key!r} was attested on gate {gate_id} by {exists.member} already"
                )
            conn.execute(
                insert(gate_attestations).values(
                    gate_pk=row.pk,
                    item=item.key,
                    member=principal.name,
                    role=role.value if role else "owner",
                    comment=comment,
                    at=now_ms(),
                )
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

    def _checklist(
        self,
        principal: Principal,
        project: str,
        row: Any,
        to: Stage,
        raci: Any,
        required: list[str],
        waiting: list[str],
        departed: list[str],
    ) -> list[ChecklistItem]:
        evidence = self.governance.evidence(principal, project, row.model, str(row.version))
        version = evidence.version
        training = self._training_data(principal, version)
        fresh, stale = self._fresh(principal, version, evidence.evaluations)
        with self.db.read() as conn:
            project_pk = self.project_store.get_pk(conn, project)
            version_pk = self._version_pk(conn, project_pk, version)
            waived = self.waivers(conn, version_pk)
        items: list[ChecklistItem] = []
        for key in CHECKLISTS[to]:
            holds, detail, refs = self._item(
                key,
                principal,
                project,
                version,
                evidence,
                training,
                fresh,
                stale,
                waived,
                raci,
                required,
                waiting,
                departed,
                to,
            )
            items.append(
                ChecklistItem(
                    key=key.value, title=ITEM_TITLES[key], holds=holds, detail=detail, evidence=refs
                )
            )
        return items

    def _item(
        self,
        key: Item,
        principal: Principal,
        project: str,
        version: ModelVersion,
        evidence: Evidence,
        training: list[Any],
        fresh: list[Evaluation],
        stale: dict[str, str],
        waived: dict[str, int],
        raci: Any,
        required: list[str],
        waiting: list[str],
        departed: list[str],
        to: Stage,
    ) -> tuple[bool, str, list[str]]:
        if key is Item.REPRODUCIBLE:
            return self._reproducible(principal, version, training)
        if key is Item.TRAINING_DATA_CONTRACT:
            if not training:
                return False, "the training run recorded no training dataset version", []
            refs = [f"datasets/{t.dataset}@v{t.version}" for t in training]
            failing = [
                r for t, r in zip(training, refs, strict=True) if t.validation_passed is not True
            ]
            if failing:
                return (
                    False,
                    "not passed (failed, or never checked against a contract): "
                    + ", ".join(failing),
                    refs,
                )
            return True, f"passed: {', '.join(refs)}", refs
        if key is Item.HOLDOUT_EVALUATION:
            used = {(t.project, t.dataset, t.version) for t in training}
            held_out = [
                e for e in fresh if (e.dataset_project, e.dataset, e.dataset_version) not in used
            ]
            if not held_out:
                why = (
                    "; ".join(stale.values())
                    or "none on a dataset version the training run did not use"
                )
                return False, f"no usable evaluation: {why}", []
            e = held_out[0]
            return True, f"on {e.dataset}@v{e.dataset_version}", [f"evaluations/{e.id}"]
        if key in (Item.MODEL_CRITERIA, Item.RELEASE_CRITERIA):
            kinds = (CriterionKind.MODEL,) if key is Item.MODEL_CRITERIA else _RELEASE_KINDS
            return self._criteria(evidence, fresh, waived, kinds)
        if key is Item.NO_PII:
            flagged = []
            for t in training:
                with contextlib.suppress(NotFound):  # unreadable data counts as unchecked
                    columns = self.data.unresolved_pii(
                        principal, f"{t.project}/{t.dataset}@v{t.version}"
                    )
                    flagged += [f"{t.dataset}@v{t.version}: {c}" for c in columns]
            if not training:
                return False, "no training data recorded to check", []
            if flagged:
                return (
                    False,
                    f"undeclared personal data (classify it in the contract): {', '.join(flagged)}",
                    [],
                )
            return True, "no undeclared personal data in the training data", []
        if key is Item.MONITORING_PLAN:
            owner = raci.accountable(MONITORING_ACTIVITY)
            if owner is None:
                return False, "the RACI names nobody accountable for monitoring", []
            return True, f"{owner} is accountable for monitoring", []
        if key is Item.ROLLBACK_TARGET:
            return self._rollback(principal, project, version)
        if key is Item.DECISION_RECORD:
            linked = self._accepted_decisions(principal, project, version)
            if not linked:
                return (
                    False,
                    f"no accepted decision links to models/{version.model}@{version.version}",
                    [],
                )
            return True, f"decision {linked[0]}", [f"decisions/{linked[0]}"]
        # sign-offs
        if not raci.accountable(ACTIVITY[to]):
            if to is Stage.READY_FOR_REVIEW:
                return True, "the RACI has no evaluation activity: no sign-off needed", []
            return False, f"the RACI names nobody accountable for {ACTIVITY[to]!r}", []
        if departed:
            who = ", ".join(departed)
            return False, f"{who} left the project: update the RACI for {ACTIVITY[to]!r}", []
        if waiting:
            return False, f"waiting for {', '.join(waiting)}", []
        return True, f"approved by {', '.join(required)}", []

    def _reproducible(
        self, principal: Principal, version: ModelVersion, training: list[Any]
    ) -> tuple[bool, str, list[str]]:
        if version.run_id is None:
            return False, "the run that trained it was purged", []
        try:
            run = self.tracking.get_run(principal, version.run_id)
        except NotFound:
            return False, f"run {version.run_id} is not readable", []
        env = run.environment
        missing = [
            name
            for name, present in (
                ("code version", env is not None and env.code.commit is not None),
                ("data versions", bool(training)),
                ("params", bool(run.params)),
                ("seed", run.seed is not None),
                ("environment", env is not None and env.python is not None),
            )
            if not present
        ]
        ref = f"runs/{run.id}"
        if missing:
            return False, f"run {run.id[:8]} did not record: {', '.join(missing)}", [ref]
        return True, f"run {run.id[:8]} recorded all of it", [ref]

    def _criteria(
        self,
        evidence: Evidence,
        fresh: list[Evaluation],
        waived: dict[str, int],
        kinds: Sequence[CriterionKind],
    ) -> tuple[bool, str, list[str]]:
        chosen = [c for c in evidence.criteria if c.kind in kinds]
        if not chosen:
            return True, "the project has no such criteria", []
        problems, met, refs = [], [], []
        for criterion in chosen:
            if criterion.key in waived:
                met.append(f"{criterion.key} waived (decision {waived[criterion.key]})")
                refs.append(f"decisions/{waived[criterion.key]}")
                continue
            row = judge(criterion, fresh, evidence.runs)
            if row.verdict is Verdict.MET:
                met.append(criterion.key)
                refs.append(row.evidence.ref if row.evidence else "")
            elif row.verdict is Verdict.NOT_MET:
                problems.append(
                    f"{criterion.key} not met ({row.value:.4g}, "
                    f"needs {criterion.comparator} {criterion.threshold:g})"
                )
            else:
                problems.append(f"{criterion.key}: no evidence")
        refs = sorted(set(refs))
        if problems:
            return False, "; ".join(problems), refs
        return True, f"met: {', '.join(met)}", refs

    def _rollback(
        self, principal: Principal, project: str, version: ModelVersion
    ) -> tuple[bool, str, list[str]]:
        production = self.registry.list_versions(
            principal, project, version.model, stage=Stage.PRODUCTION, limit=5
        ).items
        others = [v for v in production if v.version != version.version]
        if others:
            return (
                True,
                f"version {others[0].version} is in production",
                [f"models/{version.model}@{others[0].version}"],
            )
        with contextlib.suppress(NotFound):
            target = self.registry.get_version(principal, project, version.model, ROLLBACK_ALIAS)
            if target.version != version.version and target.stage is not Stage.RETIRED:
                return (
                    True,
                    f"alias {ROLLBACK_ALIAS} -> version {target.version}",
                    [f"models/{version.model}@{target.version}"],
                )
        linked = self._accepted_decisions(principal, project, version)
        if linked:
            return (
                True,
                f"a first release, accepted in decision {linked[0]}",
                [f"decisions/{linked[0]}"],
            )
        return (
            False,
            (
                f"no other version in production and no alias {ROLLBACK_ALIAS!r}; for a first "
                "release, link an accepted decision record to this version"
            ),
            [],
        )

    def _accepted_decisions(
        self, principal: Principal, project: str, version: ModelVersion
    ) -> list[int]:
        ref = f"models/{version.model}@{version.version}"
        return [
            d.number
            for d in self.list_decisions(principal, project, link=ref)
            # a waiver's decision is about one criterion, not about the version as a whole
            if d.status is DecisionStatus.ACCEPTED
            and not any(link.startswith("criteria/") for link in d.links)
        ]

    def _training_data(self, principal: Principal, version: ModelVersion) -> list[Any]:
        """The dataset versions the training run read, with their contract result."""
        if version.run_id is None:
            return []
        try:
            links = self.data.run_datasets(principal, version.run_id)
        except NotFound:
            return []
        found = []
        for link in links:
            if link.role in TRAINING_ROLES:
                ref = f"{link.project}/{link.dataset}@v{link.version}"
                dataset_version = self.data.get_version(principal, ref, details=False)
                found.append(
                    _Training(
                        link.project, link.dataset, link.version, dataset_version.validation_passed
                    )
                )
        return found

    def _fresh(
        self, principal: Principal, version: ModelVersion, evaluations: list[Evaluation]
    ) -> tuple[list[Evaluation], dict[str, str]]:
        """The evaluations that may count as evidence, and why the others may not."""
        fresh, stale = [], {}
        for e in evaluations:
            ref = f"{e.dataset_project}/{e.dataset}@v{e.dataset_version}"
            if e.created_at < version.created_at:
                stale[e.id] = f"evaluation {e.id[:8]} predates the version"
                continue
            try:
                passed = self.data.get_version(principal, ref, details=False).validation_passed
            except NotFound:
                passed = None
            if passed is False:
                stale[e.id] = (
                    f"evaluation {e.id[:8]} used {e.dataset}@v{e.dataset_version}, "
                    "which failed its contract"
                )
                continue
            fresh.append(e)
        return fresh, stale

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

    def _version_pk(self, conn: Connection, project_pk: int, version: ModelVersion) -> int:
        model = self.registry.store.find(conn, project_pk, version.model)
        return int(self.registry.store.version(conn, model.pk, version.version).pk)

    def _query(self) -> Any:
        from tandem.registry.tables import model_versions, registered_models

        return (
            select(
                gates,
                registered_models.c.name.label("model"),
                model_versions.c.version.label("version"),
            )
            .join(model_versions, model_versions.c.pk == gates.c.model_version_pk)
            .join(registered_models, registered_models.c.pk == model_versions.c.model_pk)
        )

    def _row(self, conn: Connection, project: str, gate_id: str) -> Any:
        project_pk = self.project_store.get_pk(conn, project)
        row = conn.execute(
            self._query().where(gates.c.id == gate_id.lower(), gates.c.project_pk == project_pk)
        ).first()
        if row is None:
            raise NotFound(f"project {project!r} has no gate {gate_id!r}")
        return row

    def _lock(self, conn: Connection, project: str, gate_id: str) -> Any:
        """The gate's row, locked until the transaction ends (PostgreSQL; SQLite's writes
        are serialised already), so its sign-offs are decided one at a time."""
        project_pk = self.project_store.get_pk(conn, project)
        conn.execute(
            select(gates.c.pk)
            .where(gates.c.id == gate_id.lower(), gates.c.project_pk == project_pk)
            .with_for_update()
        ).first()
        return self._row(conn, project, gate_id)

    def _open_row(self, conn: Connection, version_pk: int) -> Any:
        return conn.execute(
            self._query().where(
                gates.c.model_version_pk == version_pk, gates.c.status == GateStatus.OPEN.value
            )
        ).first()

    @staticmethod
    def _signoffs(conn: Connection, gate_pk: int) -> list[SignOff]:
        rows = conn.execute(
            select(gate_signoffs)
            .where(gate_signoffs.c.gate_pk == gate_pk)
            .order_by(gate_signoffs.c.at)
        ).all()
        return [
            SignOff(
                member=r.member,
                role=r.role,
                letter=r.letter,
                decision=SignDecision(r.decision),
                comment=r.comment,
                at=r.at,
            )
            for r in rows
        ]

    def _close(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        row: Any,
        status: GateStatus,
        reason: str,
        gate: Gate | None,
    ) -> None:
        conn.execute(
            update(gates)
            .where(gates.c.pk == row.pk)
            .values(
                status=status.value,
                closed_at=now_ms(),
                closed_by=principal.name,
                reason=reason,
                outcome=gate.model_dump_json() if gate is not None else None,
            )
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


class _Row:
    """A gate not stored (what `check` would open), shaped like a row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class _Training(NamedTuple):
    """A dataset version the training run read, and whether it passed its contract."""

    project: str
    dataset: str
    version: int
    validation_passed: bool | None


def _may_waive(principal: Principal, role: Role | None, criterion: Criterion) -> bool:
    return principal.is_superuser or (role is not None and role.value == criterion.owner)


def _selector(ref: Any) -> str:
    return str(ref.version) if ref.version is not None else ref.alias or "latest"


def _decision_model(row: Any, project: str) -> DecisionRecord:
    return DecisionRecord(
        project=project,
        number=row.number,
        title=row.title,
        context=row.context,
        options=row.options,
        decision=row.decision,
        consequences=row.consequences,
        status=DecisionStatus(row.status),
        links=orjson.loads(row.links),
        approvers=orjson.loads(row.approvers),
        superseded_by=row.superseded_by,
        created_at=row.created_at,
        created_by=row.created_by,
        accepted_at=row.accepted_at,
    )
