"""Project as code: the brief, criteria and RACI as one YAML document in the team's repository,
and the plan that says what applying it would change.

    project: churn
    brief:
      status: agreed
      goal: Cut monthly churn by 2 points.
    criteria:
      auc: {kind: model, check: roc_auc >= 0.80, dataset: churn-holdout, owner: data-scientist}
      parity: {kind: fairness, check: demographic_parity_difference <= 0.05, slice: gender,
               owner: compliance}
    raci:
      release-approval: {maria: A, ana: R, chen: C}

A section present in the file is the whole truth for that section: criteria missing from it
are deleted, the brief becomes exactly what it says. A section left out is left alone.
"""

from __future__ import annotations

import difflib
import enum

from pydantic import BaseModel, ConfigDict, Field

from tandem.governance.gates import GatePolicy
from tandem.governance.models import (
    BRIEF_FIELDS,
    BriefText,
    Criterion,
    CriterionKind,
    CriterionSet,
    RaciLetter,
    criterion_summary,
    parse_check,
)
from tandem.registry.models import Stage


class CriterionSpec(BaseModel):
    """A criterion as people write it: `check: roc_auc >= 0.80`."""

    model_config = ConfigDict(extra="forbid")

    kind: CriterionKind
    check: str = Field(description="METRIC OP NUMBER, e.g. roc_auc >= 0.80")
    dataset: str | None = None
    slice: str | None = None
    owner: str
    description: str = ""

    def to_set(self) -> CriterionSet:
        metric, comparator, threshold = parse_check(self.check)
        return CriterionSet(
            kind=self.kind, metric=metric, comparator=comparator, threshold=threshold,
            dataset=self.dataset, slice=self.slice, owner=self.owner,
            description=self.description,
        )  # fmt: skip

    @classmethod
    def of(cls, criterion: CriterionSet) -> CriterionSpec:
        return cls(
            kind=criterion.kind,
            check=f"{criterion.metric} {criterion.comparator} {criterion.threshold:g}",
            dataset=criterion.dataset,
            slice=criterion.slice,
            owner=criterion.owner,
            description=criterion.description,
        )


class ProjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(None, description="when given, must name the project applied to")
    brief: BriefText | None = None
    criteria: dict[str, CriterionSpec] | None = None
    raci: dict[str, dict[str, RaciLetter]] | None = None
    gates: dict[Stage, GatePolicy] | None = Field(
        None, description="per stage: who signs (A, or A and R) and the project's own items"
    )


class ChangeAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class PlanChange(BaseModel):
    section: str = Field(description="brief, criteria, raci or gates")
    action: ChangeAction
    key: str = Field(description="the criterion key or RACI activity; 'brief' for the brief")
    before: str | None = None
    after: str | None = None
    diff: str = Field("", description="for the brief: a unified diff of each changed field")


class Plan(BaseModel):
    project: str
    applied: bool = False
    changes: list[PlanChange] = []


def text_diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), f"{name} (before)", f"{name} (after)", lineterm=""
    )
    return "\n".join(lines)


def brief_changes(before: BriefText, after: BriefText) -> list[tuple[str, str]]:
    """(field, unified diff) for each field that differs, status included."""
    changes = []
    for field in [*BRIEF_FIELDS, "status"]:
        a, b = str(getattr(before, field)), str(getattr(after, field))
        if a != b:
            changes.append((field, text_diff(a, b, field)))
    return changes


def as_set(criterion: Criterion) -> CriterionSet:
    """The settable part of a stored criterion, to compare with what a file asks for."""
    return CriterionSet.model_validate(criterion.model_dump(include=set(CriterionSet.model_fields)))


def _criterion_line(c: CriterionSet) -> str:
    return f"{criterion_summary(c)} (owner {c.owner})"


def _raci_line(members: dict[str, RaciLetter]) -> str:
    return ", ".join(f"{m} {letter.value}" for m, letter in sorted(members.items()))


def plan_changes(
    spec: ProjectSpec,
    brief: BriefText,
    criteria: list[Criterion],
    raci: dict[str, dict[str, RaciLetter]],
    policies: dict[Stage, GatePolicy],
) -> list[PlanChange]:
    """What applying `spec` over the current records would change, section by section."""
    changes: list[PlanChange] = []
    if spec.brief is not None:
        fields = brief_changes(brief, spec.brief)
        if fields:
            changes.append(
                PlanChange(
                    section="brief",
                    action=ChangeAction.UPDATE,
                    key="brief",
                    before=", ".join(f for f, _ in fields),
                    diff="\n".join(d for _, d in fields),
                )
            )
    if spec.criteria is not None:
        current = {c.key: as_set(c) for c in criteria}
        for key, wanted in sorted(spec.criteria.items()):
            new = wanted.to_set()
            old = current.get(key)
            if old is None:
                changes.append(
                    PlanChange(section="criteria", action=ChangeAction.CREATE, key=key,
                               after=_criterion_line(new))
                )  # fmt: skip
            elif old != new:
                changes.append(
                    PlanChange(section="criteria", action=ChangeAction.UPDATE, key=key,
                               before=_criterion_line(old), after=_criterion_line(new))
                )  # fmt: skip
        for key in sorted(set(current) - set(spec.criteria)):
            changes.append(
                PlanChange(section="criteria", action=ChangeAction.DELETE, key=key,
                           before=_criterion_line(current[key]))
            )  # fmt: skip
    if spec.raci is not None:
        for activity in sorted(set(raci) | set(spec.raci)):
            old_members, new_members = raci.get(activity), spec.raci.get(activity)
            if old_members == new_members:
                continue
            action = (
                ChangeAction.CREATE
                if old_members is None
                else ChangeAction.DELETE
                if new_members is None
                else ChangeAction.UPDATE
            )
            changes.append(
                PlanChange(
                    section="raci",
                    action=action,
                    key=activity,
                    before=_raci_line(old_members) if old_members is not None else None,
                    after=_raci_line(new_members) if new_members is not None else None,
                )
            )
    if spec.gates is not None:
        for stage in sorted(set(policies) | set(spec.gates)):
            old_policy, new_policy = policies.get(stage), spec.gates.get(stage)
            if old_policy == new_policy:
                continue
            action = (
                ChangeAction.CREATE
                if old_policy is None
                else ChangeAction.DELETE
                if new_policy is None
                else ChangeAction.UPDATE
            )
            changes.append(
                PlanChange(
                    section="gates",
                    action=action,
                    key=stage.value,
                    before=_policy_line(old_policy) if old_policy else None,
                    after=_policy_line(new_policy) if new_policy else None,
                )
            )
    return changes


def _policy_line(policy: GatePolicy) -> str:
    items = ", ".join(f"{i.key} (by {i.attested_by})" for i in policy.items) or "no extra items"
    return f"signed by {'+'.join(policy.signers)}; {items}"
