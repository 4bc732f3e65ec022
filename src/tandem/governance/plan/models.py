"""The plan's records, shared by the server and the SDK: the brief, success criteria, the RACI
matrix, the scorecard that checks a model version against the criteria, and what a project adds
to its stages' gates (`gates:` in project.yaml)."""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, computed_field

from tandem.core.validation import MAX_NUMBER
from tandem.errors import InvalidInput
from tandem.registry.models import Stage

# -- brief -----------------------------------------------------------------------------------


class BriefStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in-review"
    AGREED = "agreed"


BRIEF_FIELDS: dict[str, str] = {
    "goal": "Business goal",
    "user_story": "User story",
    "approach": "Proposed ML approach",
    "dependencies": "Dependencies",
    "constraints": "Constraints",
    "out_of_scope": "Out of scope",
}
"""The brief's text fields and their headings (in Markdown files and on the project page)."""


class BriefText(BaseModel):
    """What a brief says. Every field is free Markdown text."""

    model_config = ConfigDict(extra="forbid")

    goal: str = ""
    user_story: str = ""
    approach: str = ""
    dependencies: str = ""
    constraints: str = ""
    out_of_scope: str = ""
    status: BriefStatus = BriefStatus.DRAFT


class BriefUpdate(BriefText):
    base_version: Annotated[int, Ge(0), Le(MAX_NUMBER)] | None = Field(
        None,
        description="the version this edit started from: if someone saved another version "
        "since, the edit is refused (409) instead of silently overwriting theirs",
    )


class Brief(BriefText):
    project: str
    version: int = Field(description="0 while nothing has been written")
    created_at: int | None = None
    created_by: str | None = None


class FieldDiff(BaseModel):
    field: str
    diff: str = Field(description="unified diff of the field's text")


class BriefDiff(BaseModel):
    project: str
    a: int
    b: int
    author: str | None = Field(None, description="who wrote version b")
    changes: list[FieldDiff]


# -- criteria --------------------------------------------------------------------------------


class CriterionKind(enum.StrEnum):
    PRODUCT = "product"
    MODEL = "model"
    SYSTEM = "system"
    FAIRNESS = "fairness"


COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_CHECK = re.compile(r"^\s*([\w\-./:]+)\s*(>=|<=|==|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*(%)?\s*$")
_CRITERION_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-.]{0,63}$")


def parse_check(text: str) -> tuple[str, str, float]:
    """`"roc_auc >= 0.80"` -> ("roc_auc", ">=", 0.8). A trailing % divides by 100."""
    match = _CHECK.match(text)
    if match is None:
        raise InvalidInput(
            f"check {text!r} must read METRIC OP NUMBER, e.g. 'roc_auc >= 0.80', with OP one "
            f"of {' '.join(COMPARATORS)}"
        )
    metric, comparator, number, percent = match.groups()
    try:
        threshold = float(number)
    except ValueError:
        raise InvalidInput(f"check {text!r}: {number!r} is not a number") from None
    return metric, comparator, threshold / 100 if percent else threshold


def check_criterion_key(key: str) -> str:
    if not _CRITERION_KEY.match(key):
        raise InvalidInput(
            f"criterion key {key!r} must be 1-64 lowercase letters, digits and _ - . "
            "starting with a letter or digit"
        )
    return key


class CriterionSet(BaseModel):
    """A success criterion, e.g. model: roc_auc >= 0.80 on churn-holdout, owned by the data
    scientists.

    Where its evidence comes from, by kind:
    - model: the version's evaluations on `dataset` (overall, or the `slice` "column=value");
    - fairness: the evaluations' fairness figures across the protected attribute `slice`;
    - system: the evaluations' latency (`p50_ms`, `p99_ms`, `rows_per_second`), else a run;
    - product: a run tagged `tandem.model=NAME@N` (an A/B test's analysis, say) that logged
      `metric`.
    """

    model_config = ConfigDict(extra="forbid")

    kind: CriterionKind
    metric: str = Field(min_length=1, max_length=250)
    comparator: str = Field(description=" ".join(COMPARATORS))
    threshold: float
    dataset: str | None = Field(None, description="the dataset (NAME or NAME@vN) it applies to")
    slice: str | None = Field(
        None, description="model: `column=value`; fairness: the protected attribute"
    )
    owner: str = Field(description="the project role that owns it and may waive it")
    description: str = ""


class Criterion(CriterionSet):
    project: str
    key: str
    updated_at: int
    updated_by: str

    @property
    def check(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"


# -- RACI ------------------------------------------------------------------------------------


class RaciLetter(enum.StrEnum):
    RESPONSIBLE = "R"
    ACCOUNTABLE = "A"
    CONSULTED = "C"
    INFORMED = "I"


DEPLOYMENT_ACTIVITY = "deployment"
"""Deploying to, promoting on and rolling back an endpoint: its members are notified of each."""

DEFAULT_ACTIVITIES = (
    "data-preparation",
    "training",
    "evaluation",
    "release-approval",
    DEPLOYMENT_ACTIVITY,
    "monitoring",
    "incident-response",
)
_ACTIVITY = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}$")


def check_activity(name: str) -> str:
    if not _ACTIVITY.match(name):
        raise InvalidInput(
            f"activity {name!r} must be 1-64 lowercase letters, digits and hyphens, "
            f"e.g. {', '.join(DEFAULT_ACTIVITIES[:3])}"
        )
    return name


def parse_assignments(items: list[str]) -> dict[str, RaciLetter]:
    """`["maria=A", "ana=r"]` -> {"maria": A, "ana": R}: one activity's row as people type it."""
    row: dict[str, RaciLetter] = {}
    for item in items:
        member, sep, letter = item.strip().partition("=")
        if not sep or not member or letter.upper() not in ("R", "A", "C", "I"):
            raise InvalidInput(f"{item!r}: write MEMBER=R, MEMBER=A, MEMBER=C or MEMBER=I")
        row[member] = RaciLetter(letter.upper())
    return row


class RaciSet(BaseModel):
    """The whole matrix: activity -> member -> R, A, C or I, with exactly one A per activity."""

    model_config = ConfigDict(extra="forbid")

    activities: dict[str, dict[str, RaciLetter]]


class RaciRow(BaseModel):
    """One activity's row: member -> R, A, C or I, with exactly one A."""

    model_config = ConfigDict(extra="forbid")

    members: dict[str, RaciLetter]


class Raci(RaciSet):
    project: str

    def accountable(self, activity: str) -> str | None:
        return next(
            (m for m, letter in self.activities.get(activity, {}).items() if letter == "A"), None
        )

    def with_letter(self, activity: str, letter: RaciLetter | str) -> list[str]:
        return sorted(m for m, x in self.activities.get(activity, {}).items() if x == letter)


# -- scorecard -------------------------------------------------------------------------------


class Verdict(enum.StrEnum):
    MET = "met"
    NOT_MET = "not-met"
    NO_EVIDENCE = "no-evidence"


class Evidence(BaseModel):
    kind: str = Field(description="evaluation or run")
    id: str
    ref: str = Field(description="what decided it, e.g. evaluations/ID or runs/ID")
    dataset: str | None = Field(None, description="NAME@vN the evaluation used")
    created_at: int


class ScorecardRow(BaseModel):
    criterion: Criterion
    verdict: Verdict
    value: float | None = None
    evidence: Evidence | None = None
    note: str = Field("", description="why there is no evidence, when there is none")


class Scorecard(BaseModel):
    project: str
    model: str
    version: int
    stage: str
    rows: list[ScorecardRow]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """How many criteria are met, not met and without evidence."""
        return {v.value: sum(r.verdict is v for r in self.rows) for v in Verdict}

    @property
    def all_met(self) -> bool:
        return all(r.verdict is Verdict.MET for r in self.rows)


def criterion_summary(c: CriterionSet | dict[str, Any]) -> str:
    """'model: roc_auc >= 0.8 on churn-holdout [gender=Female]' for lists and plans."""
    data = c if isinstance(c, dict) else c.model_dump(mode="json")
    text = f"{data['kind']}: {data['metric']} {data['comparator']} {data['threshold']:g}"
    if data.get("dataset"):
        text += f" on {data['dataset']}"
    if data.get("slice"):
        across = "across " if data["kind"] == CriterionKind.FAIRNESS else ""
        text += f" [{across}{data['slice']}]"
    return text


# -- gate policies ---------------------------------------------------------------------------

GATED_STAGES = (Stage.READY_FOR_REVIEW, Stage.READY_FOR_PRODUCTION, Stage.PRODUCTION,
                Stage.RETIRED)  # fmt: skip
"""The stages a version moves to only through a gate (each has a checklist in
tandem.governance.gates); moving back to draft is not gated."""


class PolicyItem(BaseModel):
    """A project's own checklist item, attested on each gate by a member of `attested_by`."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{0,63}$")
    title: str = Field(min_length=1, max_length=300)
    attested_by: str = Field(description="the project role whose member attests it")


class GatePolicy(BaseModel):
    """What a project adds to a stage's gate (`gates:` in project.yaml)."""

    model_config = ConfigDict(extra="forbid")

    signers: list[str] = Field(
        ["A"], description="whose sign-off it needs: A (accountable), and R (responsible) if asked"
    )
    items: list[PolicyItem] = []
