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
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tandem.governance.plan.models import (
    BRIEF_FIELDS,
    BriefText,
    Criterion,
    CriterionKind,
    CriterionSet,
    GatePolicy,
    RaciLetter,
    criterion_summary,
    parse_check,
)
from tandem.registry.models import Stage

K = TypeVar("K", bound=str)
V = TypeVar("V")


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
    monitors: list[dict[str, Any]] | None = Field(
        None,
        description="the project's monitors (a plug-in section: the monitoring domain reads "
        "it, through `PlanSection`)",
    )

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        """The plug-in sections present in the document, by name."""
        return {"monitors": self.monitors} if self.monitors is not None else {}


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
        wanted = {key: c.to_set() for key, c in spec.criteria.items()}
        found = _keyed_changes("criteria", current, wanted, _criterion_line)
        # additions and changes first, then removals, each in key order
        changes += sorted(found, key=lambda c: c.action is ChangeAction.DELETE)
    if spec.raci is not None:
        changes += _keyed_changes("raci", raci, spec.raci, _raci_line)
    if spec.gates is not None:
        changes += _keyed_changes("gates", policies, spec.gates, _policy_line)
    return changes


def _keyed_changes(
    section: str, current: Mapping[K, V], wanted: Mapping[K, V], line: Callable[[V], str]
) -> list[PlanChange]:
    """One section's changes, entry by entry in key order: what `wanted` adds, changes and
    drops against `current`, each entry shown as `line` writes it."""
    changes = []
    for key in sorted(set(current) | set(wanted)):
        old, new = current.get(key), wanted.get(key)
        if old == new:
            continue
        action = (
            ChangeAction.CREATE
            if old is None
            else ChangeAction.DELETE
            if new is None
            else ChangeAction.UPDATE
        )
        changes.append(
            PlanChange(
                section=section,
                action=action,
                key=str(key),
                before=line(old) if old is not None else None,
                after=line(new) if new is not None else None,
            )
        )
    return changes


def _policy_line(policy: GatePolicy) -> str:
    items = ", ".join(f"{i.key} (by {i.attested_by})" for i in policy.items) or "no extra items"
    return f"signed by {'+'.join(policy.signers)}; {items}"
