"""PlanService: every rule about a project's brief, success criteria and RACI, the scorecard
of a model version against the criteria, and the project as code (which also sets the gate
policies: `gates:` in project.yaml).

The REST API, and through it the SDK, CLI and web UI, call these methods; each takes the acting
principal and checks it first. Anyone who may read the project reads these records; the brief
and criteria are written by the roles with `plan:write` (everyone but viewers), the RACI, which
decides who signs a release, by those with `raci:write` (product managers and admins).
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal, Role
from tandem.core.clock import now_ms
from tandem.core.validation import check_key, check_text
from tandem.errors import Conflict, InvalidInput, NotFound
from tandem.evaluation.models import Evaluation
from tandem.evaluation.service import EvaluationService
from tandem.governance.plan.models import (
    BRIEF_FIELDS,
    COMPARATORS,
    GATED_STAGES,
    Brief,
    BriefDiff,
    BriefText,
    BriefUpdate,
    Criterion,
    CriterionKind,
    CriterionSet,
    FieldDiff,
    GatePolicy,
    Raci,
    RaciLetter,
    RaciSet,
    Scorecard,
    ScorecardRow,
    check_activity,
    check_criterion_key,
)
from tandem.governance.plan.scorecard import judge
from tandem.governance.plan.spec import (
    ChangeAction,
    CriterionSpec,
    Plan,
    PlanChange,
    ProjectSpec,
    as_set,
    brief_changes,
    plan_changes,
)
from tandem.governance.plan.store import PlanStore
from tandem.identity.service import IdentityService
from tandem.projects.service import ProjectService
from tandem.registry.models import ModelVersion, Stage
from tandem.registry.service import RegistryService
from tandem.tracking.models import Run, RunSearch
from tandem.tracking.service import TrackingService

MAX_BRIEF_FIELD = 100_000
_DATASET = re.compile(r"^(?:[a-z0-9][a-z0-9_\-.]*/)?[\w\-.]+(?:@v?\d+)?$")
CANDIDATE_STAGES = (Stage.PRODUCTION, Stage.READY_FOR_PRODUCTION, Stage.READY_FOR_REVIEW)
MODEL_TAG = "tandem.model"  # a run tagged tandem.model=NAME@N carries evidence about that version


@dataclass(frozen=True, slots=True)
class Evidence:
    version: ModelVersion
    criteria: list[Criterion]
    evaluations: list[Evaluation]
    runs: list[Run]


class PlanSection(Protocol):
    """A section of project.yaml another domain owns (`monitors:`, the monitoring domain's),
    registered with `PlanService.use_section` by the container: planned and applied in the
    same transaction as the rest of the document, so the plan never imports that domain."""

    def check_section(self, principal: Principal, project: str, items: list[dict[str, Any]]) -> Any:
        """The section's items checked (raise InvalidInput naming the bad one); what
        `section_changes` and `write_section` take."""
        ...

    def section_changes(
        self, conn: Connection, project_pk: int, project: str, checked: Any
    ) -> list[PlanChange]: ...

    def write_section(
        self, conn: Connection, principal: Principal, project: str, project_pk: int,
        checked: Any,
    ) -> None: ...  # fmt: skip

    def export_section(
        self, conn: Connection, project_pk: int, project: str
    ) -> list[dict[str, Any]] | None: ...


class PlanService:
    def __init__(
        self,
        db: Any,
        store: PlanStore,
        projects: ProjectService,
        identity: IdentityService,
        registry: RegistryService,
        evaluations: EvaluationService,
        tracking: TrackingService,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.identity = identity
        self.registry = registry
        self.evaluations = evaluations
        self.tracking = tracking
        self.auth = auth
        self.audit = audit
        self.sections: dict[str, PlanSection] = {}

    def use_section(self, name: str, section: PlanSection) -> None:
        """Let `section` plan and apply project.yaml's `name:` (the container wires it)."""
        self.sections[name] = section

    # -- brief ----------------------------------------------------------------------------

    def get_brief(self, principal: Principal, project: str, version: int | None = None) -> Brief:
        """The project's brief (version 0, empty, until someone writes it), or an older
        `version` of it."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            brief = self.store.brief(conn, project_pk, project, version)
        if version is not None and version != 0 and brief.version != version:
            raise NotFound(f"the brief of {project!r} has no version {version}")
        return brief

    def brief_history(self, principal: Principal, project: str) -> list[Brief]:
        """Every saved version of the brief, newest first."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self.store.brief_history(conn, project_pk, project)

    def brief_diff(
        self, principal: Principal, project: str, a: int | None = None, b: int | None = None
    ) -> BriefDiff:
        """What changed from version `a` to `b` (default: the newest and the one before)."""
        newest = self.get_brief(principal, project)
        b = newest.version if b is None else b
        a = max(b - 1, 0) if a is None else a
        before, after = self.get_brief(principal, project, a), self.get_brief(principal, project, b)
        changes = [FieldDiff(field=f, diff=d) for f, d in brief_changes(before, after)]
        return BriefDiff(project=project, a=a, b=b, author=after.created_by, changes=changes)

    def set_brief(self, principal: Principal, project: str, data: BriefUpdate) -> Brief:
        """Save a new version of the brief, unless it says what the current one says.

        Raises:
            Conflict: `data.base_version` is not the current version (someone saved since).
        """
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        text = self._check_brief(data)
        try:
            with self.db.write() as conn:
                project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
                self._write_brief(conn, principal, project, project_pk, text, data.base_version)
                return self.store.brief(conn, project_pk, project, None)
        except IntegrityError:  # another writer took the same version number
            raise Conflict(f"the brief of {project!r} was saved concurrently; retry") from None

    @staticmethod
    def _check_brief(data: BriefText) -> BriefText:
        for field, title in BRIEF_FIELDS.items():
            check_text(getattr(data, field), title, MAX_BRIEF_FIELD)
        return BriefText.model_validate(data.model_dump(include=set(BriefText.model_fields)))

    def _write_brief(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        project_pk: int,
        text: BriefText,
        base_version: int | None,
    ) -> None:
        current = self.store.brief(conn, project_pk, project, None)
        if base_version is not None and base_version != current.version:
            raise Conflict(
                f"the brief of {project!r} is at version {current.version}, not {base_version}: "
                f"{current.created_by} saved it since; reload and edit again",
                current_version=current.version,
            )
        changed = brief_changes(current, text)
        if not changed:
            return
        version = current.version + 1
        self.store.add_brief(conn, project_pk, version, text, principal.name, now_ms())
        self.audit.record(
            conn, principal, "brief.update", f"{project}/brief@{version}", project=project,
            fields=[f for f, _ in changed],
        )  # fmt: skip

    # -- criteria -------------------------------------------------------------------------

    def list_criteria(self, principal: Principal, project: str) -> list[Criterion]:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self.store.criteria(conn, project_pk, project)

    def put_criterion(
        self, principal: Principal, project: str, key: str, data: CriterionSet
    ) -> Criterion:
        """Create criterion `key` or change it; a change is audited with what it was before,
        so a gate opened under the old criterion shows why its verdict moved."""
        self.auth.require(principal, Action.PLAN_WRITE, project)
        check_criterion_key(key)
        data = self._check_criterion(data)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            self._write_criterion(conn, principal, project, project_pk, key, data)
            return next(c for c in self.store.criteria(conn, project_pk, project) if c.key == key)

    def delete_criterion(self, principal: Principal, project: str, key: str) -> None:
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            self._delete_criterion(conn, principal, project, project_pk, key)

    @staticmethod
    def _check_criterion(data: CriterionSet) -> CriterionSet:
        check_key(data.metric, "metric")
        if data.comparator not in COMPARATORS:
            raise InvalidInput(
                f"comparator {data.comparator!r} is not one of {' '.join(COMPARATORS)}"
            )
        if not math.isfinite(data.threshold):
            raise InvalidInput("a criterion's threshold must be a finite number")
        owner = Role.parse(data.owner)
        if data.dataset is not None and not _DATASET.match(data.dataset):
            raise InvalidInput(
                f"dataset {data.dataset!r} must read NAME, NAME@vN or PROJECT/NAME@vN"
            )
        if data.slice is not None:
            check_text(data.slice, "slice", 500)
            if data.kind is CriterionKind.MODEL and "=" not in data.slice:
                raise InvalidInput(
                    f"a model criterion's slice reads COLUMN=VALUE, e.g. gender=Female, "
                    f"not {data.slice!r}"
                )
            if data.kind in (CriterionKind.PRODUCT, CriterionKind.SYSTEM):
                raise InvalidInput(f"a {data.kind} criterion applies to no slice")
        check_text(data.description, "description", 10_000)
        return data.model_copy(update={"owner": owner.value, "slice": data.slice or None})

    def _write_criterion(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        project_pk: int,
        key: str,
        data: CriterionSet,
    ) -> None:
        before = next(
            (as_set(c) for c in self.store.criteria(conn, project_pk, project) if c.key == key),
            None,
        )
        if before == data:
            return
        values = {
            **data.model_dump(mode="json"),
            "updated_at": now_ms(),
            "updated_by": principal.name,
        }
        self.store.put_criterion(conn, project_pk, key, values)
        details: dict[str, Any] = {"after": data.model_dump(mode="json")}
        if before is not None:
            details["before"] = before.model_dump(mode="json")
        action = "criterion.create" if before is None else "criterion.update"
        self.audit.record(
            conn, principal, action, f"{project}/criteria/{key}", project=project, **details
        )

    def _delete_criterion(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, key: str
    ) -> None:
        if not self.store.delete_criterion(conn, project_pk, key):
            raise NotFound(f"project {project!r} has no criterion {key!r}")
        self.audit.record(
            conn, principal, "criterion.delete", f"{project}/criteria/{key}", project=project
        )

    # -- RACI -----------------------------------------------------------------------------

    def get_raci(self, principal: Principal, project: str) -> Raci:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return Raci(project=project, activities=self.store.raci(conn, project_pk))

    def member_names(self, project: str) -> set[str]:
        """Who belongs to the project now (for callers that have checked access already)."""
        with self.db.read() as conn:
            project_pk = self.projects.pk_in(conn, project)
            return self.identity.member_names_in(conn, project_pk)

    def set_raci(self, principal: Principal, project: str, data: RaciSet) -> Raci:
        """Replace the whole matrix. Every activity has exactly one Accountable member, and
        everyone named is a member of the project."""
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.RACI_WRITE)
            self._write_raci(conn, principal, project, project_pk, data.activities)
            return Raci(project=project, activities=self.store.raci(conn, project_pk))

    def set_raci_activity(
        self, principal: Principal, project: str, activity: str, row: dict[str, RaciLetter]
    ) -> Raci:
        """Set one activity's row, the other activities as they are when the change is made
        (not as the caller last read them); an empty row removes the activity if it is there."""
        return self._change_raci_activity(principal, project, activity, row, must_exist=False)

    def remove_raci_activity(self, principal: Principal, project: str, activity: str) -> Raci:
        """Remove one activity from the matrix; refused if the matrix has none of that name."""
        return self._change_raci_activity(principal, project, activity, {}, must_exist=True)

    def _change_raci_activity(
        self,
        principal: Principal,
        project: str,
        activity: str,
        row: dict[str, RaciLetter],
        *,
        must_exist: bool,
    ) -> Raci:
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.RACI_WRITE)
            current = self.store.raci(conn, project_pk)
            if must_exist and activity not in current:
                raise InvalidInput(f"the RACI has no activity {activity!r}")
            matrix = {**current, activity: row} if row else {
                a: members for a, members in current.items() if a != activity
            }  # fmt: skip
            self._write_raci(conn, principal, project, project_pk, matrix, current)
            return Raci(project=project, activities=self.store.raci(conn, project_pk))

    def _write_raci(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        project_pk: int,
        matrix: dict[str, dict[str, RaciLetter]],
        current: dict[str, dict[str, RaciLetter]] | None = None,
    ) -> None:
        """Check and store `matrix` (`current`: the stored one, when the caller read it)."""
        self._check_raci(conn, project, project_pk, matrix)
        if (self.store.raci(conn, project_pk) if current is None else current) == matrix:
            return
        self.store.set_raci(conn, project_pk, matrix)
        self.audit.record(
            conn, principal, "raci.update", f"{project}/raci", project=project,
            activities=sorted(matrix),
        )  # fmt: skip

    def _check_raci(
        self,
        conn: Connection,
        project: str,
        project_pk: int,
        matrix: dict[str, dict[str, RaciLetter]],
    ) -> None:
        members = self.identity.member_names_in(conn, project_pk)
        for activity, row in matrix.items():
            check_activity(activity)
            strangers = sorted(set(row) - members)
            if strangers:
                raise InvalidInput(
                    f"RACI activity {activity!r} names {', '.join(strangers)}, who "
                    f"{'is' if len(strangers) == 1 else 'are'} not a member of {project!r}: "
                    "add them with `tandem members set` first"
                )
            accountable = [m for m, letter in row.items() if letter is RaciLetter.ACCOUNTABLE]
            if len(accountable) != 1:
                raise InvalidInput(
                    f"RACI activity {activity!r} has {len(accountable)} accountable members "
                    f"({', '.join(sorted(accountable)) or 'none'}): it needs exactly one A"
                )

    # -- scorecard ------------------------------------------------------------------------

    def scorecard(self, principal: Principal, project: str, model: str, selector: str) -> Scorecard:
        """Each criterion of the project judged for one model version: met, not met, or no
        evidence yet, with the evaluation or run that decided it."""
        evidence = self.evidence(principal, project, model, selector)
        version = evidence.version
        rows = [judge(c, evidence.evaluations, evidence.runs) for c in evidence.criteria]
        return Scorecard(
            project=project, model=model, version=version.version, stage=version.stage, rows=rows
        )

    def candidate_scorecards(
        self, principal: Principal, project: str, limit: int = 8
    ) -> list[Scorecard]:
        """Scorecards for the project page: each model's versions in production or up for it
        (ready for review or production), or its newest version when it has none of those."""
        cards: list[Scorecard] = []
        for model in self.registry.list_models(principal, project, limit=50).items:
            versions = [
                v.version
                for stage in CANDIDATE_STAGES
                for v in self.registry.list_versions(
                    principal, project, model.name, stage=stage, limit=limit
                ).items
            ]
            if not versions and model.latest_version is not None:
                versions = [model.latest_version]
            for version in versions[: limit - len(cards)]:
                cards.append(self.scorecard(principal, project, model.name, str(version)))
            if len(cards) >= limit:
                break
        return cards

    def evidence(self, principal: Principal, project: str, model: str, selector: str) -> Evidence:
        """A version, the project's criteria and what can judge them: the version's
        evaluations (with reports) and its runs, newest first."""
        version = self.registry.get_version(principal, project, model, selector)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MODEL_READ)
            criteria = self.store.criteria(conn, project_pk, project)
        ref = f"{model}@{version.version}"
        evaluations = self.evaluations.list_for_model(principal, project, ref, full=True)
        runs = self._evidence_runs(principal, project, ref, version.run_id)
        return Evidence(version, criteria, evaluations, runs)

    def _evidence_runs(
        self, principal: Principal, project: str, ref: str, source_run: str | None
    ) -> list[Run]:
        """Runs tagged for this version (newest first), then the run that trained it."""
        found = []
        if principal.may(Action.RUN_READ, project):
            search = RunSearch(
                project=project,
                filter=f"tags.{MODEL_TAG} = '{ref}'",
                order_by=["start_time DESC"],
                limit=100,
            )
            found = list(self.tracking.search_runs(principal, search).items)
            if source_run is not None and all(r.id != source_run for r in found):
                with contextlib.suppress(NotFound):  # purged since: its evidence went too
                    found.append(self.tracking.get_run(principal, source_run))
        return found

    # -- project as code ------------------------------------------------------------------

    def export(self, principal: Principal, project: str) -> ProjectSpec:
        """The brief, criteria and RACI as one document `apply` takes back unchanged."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            brief = self.store.brief(conn, project_pk, project, None)
            criteria = self.store.criteria(conn, project_pk, project)
            raci = self.store.raci(conn, project_pk)
            policies = self.store.policies(conn, project_pk)
            monitors = (
                self.sections["monitors"].export_section(conn, project_pk, project)
                if "monitors" in self.sections
                else None
            )
        return ProjectSpec(
            monitors=monitors,
            project=project,
            gates=policies,
            brief=BriefText.model_validate(brief.model_dump(include=set(BriefText.model_fields))),
            criteria={c.key: CriterionSpec.of(c) for c in criteria},
            raci=raci,
        )

    def plan(self, principal: Principal, project: str, spec: ProjectSpec) -> Plan:
        """What `apply` would change; changes nothing."""
        return self._apply(principal, project, spec, dry_run=True)

    def apply(self, principal: Principal, project: str, spec: ProjectSpec) -> Plan:
        """Make the records say what `spec` says, all in one transaction: any bad part
        (a criterion, a RACI row) and nothing changes."""
        return self._apply(principal, project, spec, dry_run=False)

    def _apply(
        self, principal: Principal, project: str, spec: ProjectSpec, *, dry_run: bool
    ) -> Plan:
        action = Action.PROJECT_READ if dry_run else Action.PLAN_WRITE
        self.auth.require(principal, action, project)  # before checking the document
        if spec.project is not None and spec.project != project:
            raise InvalidInput(
                f"the file is for project {spec.project!r}, not {project!r}: "
                "pass --project to match, or fix its `project:`"
            )
        brief = self._check_brief(spec.brief) if spec.brief is not None else None
        for stage, policy in (spec.gates or {}).items():
            _check_policy(stage, policy)
        wanted = {}
        for key, item in (spec.criteria or {}).items():
            check_criterion_key(key)
            wanted[key] = self._check_criterion(item.to_set())
        sections: dict[str, Any] = {}
        for name, items in spec.sections().items():
            if name not in self.sections:
                raise InvalidInput(f"`{name}:` is not read by this server: remove it")
            sections[name] = self.sections[name].check_section(principal, project, items)
        checked = spec.model_copy(
            update={
                "brief": brief,
                "criteria": None if spec.criteria is None else {
                    k: CriterionSpec.of(v) for k, v in wanted.items()
                },
            }
        )  # fmt: skip
        with self.db.read() if dry_run else self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, action)
            current_criteria = self.store.criteria(conn, project_pk, project)
            current_raci = self.store.raci(conn, project_pk)
            changes = plan_changes(
                checked,
                self.store.brief(conn, project_pk, project, None),
                current_criteria,
                current_raci,
                self.store.policies(conn, project_pk),
            )
            for name, checked in sections.items():
                changes += self.sections[name].section_changes(conn, project_pk, project, checked)
            if not dry_run and any(c.section in ("raci", "gates") for c in changes):
                self.auth.require(principal, Action.RACI_WRITE, project)
            if spec.raci is not None:  # checked for a plan too: a plan that would fail says so
                self._check_raci(conn, project, project_pk, spec.raci)
            if dry_run or not changes:
                return Plan(project=project, applied=False, changes=changes)
            if brief is not None:
                self._write_brief(conn, principal, project, project_pk, brief, None)
            if spec.criteria is not None:
                for key, data in wanted.items():
                    self._write_criterion(conn, principal, project, project_pk, key, data)
                for old in current_criteria:
                    if old.key not in wanted:
                        self._delete_criterion(conn, principal, project, project_pk, old.key)
            if spec.raci is not None:
                self._write_raci(conn, principal, project, project_pk, spec.raci)
            for name, checked in sections.items():
                if any(c.section == name for c in changes):
                    self.sections[name].write_section(conn, principal, project, project_pk, checked)
            if spec.gates is not None and any(c.section == "gates" for c in changes):
                self.store.set_policies(conn, project_pk, spec.gates)
                self.audit.record(
                    conn, principal, "gates.policy", f"{project}/gates", project=project,
                    stages=sorted(s.value for s in spec.gates),
                )  # fmt: skip
            return Plan(project=project, applied=True, changes=changes)

    # -- for other domains (inside the caller's transaction) -------------------------------

    def gate_policies(self, conn: Connection, project_pk: int) -> dict[Stage, GatePolicy]:
        """The project's gate policies (`gates:` in project.yaml), for the gates domain. No
        permission check: the caller checked its access to the project."""
        return self.store.policies(conn, project_pk)

    def raci_rows(self, conn: Connection, project_pk: int) -> dict[str, dict[str, RaciLetter]]:
        """The RACI matrix (activity -> member -> letter), for a domain that reads it inside its
        own transaction (a gate notifies its signers). No permission check: the caller checked
        its access to the project."""
        return self.store.raci(conn, project_pk)

    def activity_members(self, conn: Connection, project_pk: int, activity: str) -> list[str]:
        """The members the RACI names for `activity` (with any letter) who still belong to the
        project, for the Notifier inside the caller's transaction. No permission check: the
        caller checked its access to the project."""
        named = self.store.raci(conn, project_pk).get(activity, {})
        if not named:
            return []
        members = self.identity.member_names_in(conn, project_pk)
        return sorted(m for m in named if m in members)

    def activity_letters(self, conn: Connection, project_pk: int, activity: str) -> dict[str, str]:
        """{member: letter} ("R", "A", "C", "I") the RACI holds for `activity`, for the members
        who still belong to the project, for alert routing inside the caller's transaction. No
        permission check: the caller checked its access to the project."""
        named = self.store.raci(conn, project_pk).get(activity, {})
        if not named:
            return {}
        members = self.identity.member_names_in(conn, project_pk)
        return {m: letter.value for m, letter in sorted(named.items()) if m in members}

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Delete everything the plan holds about a purged project, for gc inside its
        transaction. No permission check: gc checked."""
        self.store.purge_project(conn, project_pk)

    @staticmethod
    def judge(criterion: Criterion, evaluations: list[Evaluation], runs: list[Run]) -> ScorecardRow:
        """One criterion judged on the evidence given (evaluations with reports and runs, newest
        first), for the gates domain, which counts only fresh evaluations. Pure: no permission
        check, no database."""
        return judge(criterion, evaluations, runs)


def _check_policy(stage: Stage, policy: GatePolicy) -> None:
    """A stage's gate policy: a gated stage, signers A (and R), items attested by real roles."""
    if stage not in GATED_STAGES:
        raise InvalidInput(f"gates.{stage.value}: moving to {stage.value} is not gated")
    if "A" not in policy.signers or not set(policy.signers) <= {"A", "R"}:
        raise InvalidInput(
            f"gates.{stage.value}.signers must be [A] or [A, R], not {policy.signers}"
        )
    keys = [item.key for item in policy.items]
    if len(keys) != len(set(keys)):
        raise InvalidInput(f"gates.{stage.value}.items: each key once")
    for item in policy.items:
        Role.parse(item.attested_by)


# what a plug-in section (`PlanSection`) answers with, for the domains that implement one
__all__ = ["ChangeAction", "Evidence", "PlanChange", "PlanSection", "PlanService"]
