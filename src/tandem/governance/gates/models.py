"""Gates, sign-offs and waivers: the models shared by the server and the SDK, and which
checklist and which RACI activity each stage's gate has.

Moving a model version forward (to ready-for-review, ready-for-production, production or
retired) goes through a gate: a checklist evaluated from evidence, and sign-offs from the
members the RACI marks Accountable for the gate's activity. It passes only when every item
holds and every required member approved; one rejection closes it."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from tandem.registry.models import Stage


class GateStatus(enum.StrEnum):
    OPEN = "open"
    PASSED = "passed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class SignDecision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Item(enum.StrEnum):
    """The default checklist items (DESIGN.md section 2); each is a check in
    `tandem.governance.gates.checklist.CHECKLIST`."""

    REPRODUCIBLE = "reproducible"
    TRAINING_DATA_CONTRACT = "training-data-contract"
    HOLDOUT_EVALUATION = "holdout-evaluation"
    MODEL_CRITERIA = "model-criteria"
    RELEASE_CRITERIA = "release-criteria"
    NO_PII = "no-unresolved-pii"
    MONITORING_PLAN = "monitoring-plan"
    ROLLBACK_TARGET = "rollback-target"
    DECISION_RECORD = "decision-record"
    SIGN_OFFS = "sign-offs"


CUSTOM_PREFIX = "project:"  # a project-specific item's checklist key: project:security-review

_REVIEW = (Item.REPRODUCIBLE, Item.TRAINING_DATA_CONTRACT, Item.HOLDOUT_EVALUATION,
           Item.MODEL_CRITERIA)  # fmt: skip
_RELEASE = (*_REVIEW, Item.RELEASE_CRITERIA, Item.NO_PII, Item.MONITORING_PLAN,
            Item.ROLLBACK_TARGET, Item.SIGN_OFFS)  # fmt: skip
CHECKLISTS: dict[Stage, tuple[str, ...]] = {
    Stage.READY_FOR_REVIEW: (*_REVIEW, Item.SIGN_OFFS),
    Stage.READY_FOR_PRODUCTION: _RELEASE,
    Stage.PRODUCTION: _RELEASE,
    Stage.RETIRED: (Item.DECISION_RECORD, Item.SIGN_OFFS),
}
"""Each gated stage's checklist, by item key (the project's own items go before the last, the
sign-offs). Moving back to draft is not gated; the gated stages are `GATED_STAGES`."""

ACTIVITY = {
    Stage.READY_FOR_REVIEW: "evaluation",
    Stage.READY_FOR_PRODUCTION: "release-approval",
    Stage.PRODUCTION: "release-approval",
    Stage.RETIRED: "release-approval",
}
"""Whose sign-off a gate needs: the members the RACI marks Accountable for this activity. A
review gate needs one only when the RACI has an `evaluation` activity; a release gate always."""

MONITORING_ACTIVITY = "monitoring"
ROLLBACK_ALIAS = "rollback"


class EndpointPlan(BaseModel):
    """What a production endpoint's monitors cover, for the "monitoring plan" item: the
    monitoring domain answers it (`MonitoringPlans`), the gates judge it."""

    endpoint: str
    missing: list[str] = Field(
        description="what is not watched: drift, performance, slo, or an owner"
    )
    monitors: list[str] = Field(description="the monitors that count, as monitors/NAME")


class Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str
    comment: str = Field("", max_length=10_000)


class ChecklistItem(BaseModel):
    key: str
    title: str
    holds: bool
    detail: str = Field("", description="what holds or is missing, in a sentence")
    evidence: list[str] = Field([], description="references to what decided it")


class SignOff(BaseModel):
    member: str
    role: str = Field(description="the member's project role when they signed")
    letter: str = Field(description="A or R: why their sign-off was needed")
    decision: SignDecision
    comment: str = ""
    at: int


class SignOffCreate(BaseModel):
    """Your own approval or rejection; nobody signs for someone else, so there is no name."""

    model_config = ConfigDict(extra="forbid")

    decision: SignDecision
    comment: str = Field("", max_length=10_000, description="required for a rejection")


class GateOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="NAME@N or NAME@ALIAS in the project")
    to: Stage


class GateCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=10_000)


class Gate(BaseModel):
    id: str
    project: str
    model: str
    version: int
    from_stage: Stage
    to_stage: Stage
    status: GateStatus
    activity: str
    opened_at: int
    opened_by: str
    closed_at: int | None = None
    closed_by: str | None = None
    reason: str = Field("", description="why it was rejected or cancelled")
    checklist: list[ChecklistItem] = []
    required: list[str] = Field([], description="members whose approval it needs")
    signoffs: list[SignOff] = []
    waiting_for: list[str] = Field([], description="required members who have not signed")
    passes: bool = Field(False, description="every item holds and every required member approved")

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.model}@{self.version} -> {self.to_stage.value}"


class WaiverCreate(BaseModel):
    """Waive a criterion for the gate's model version, as its owner role; the reason becomes an
    accepted decision record."""

    model_config = ConfigDict(extra="forbid")

    criterion: str
    reason: str = Field(min_length=1, max_length=20_000)
