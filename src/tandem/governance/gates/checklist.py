"""The checklist items, each a small function in a registry.

A gate's checklist is the item keys `CHECKLISTS` lists for its stage. Each key names an
`ItemCheck` in `CHECKLIST`, registered with `@item(key, title)`: a function that takes the
`ItemContext` (the version, the evidence gathered once for the whole checklist, the RACI and
the sign-offs, and the services an item may ask) and says whether the item holds, in a
sentence, with references to what decided it. Another domain adds an item by registering its
function and naming its key in a stage's checklist; nothing here changes.

    @item("drift-monitor", "A drift monitor watches the version")
    def drift_monitor(ctx: ItemContext) -> Result:
        ...
        return True, "monitor m-12 is active", ["monitors/m-12"]

Evidence is stale, and does not count, when its evaluation used a dataset version that failed
its contract or predates the model version (`fresh_evaluations`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from tandem.core.auth import Principal
from tandem.data.service import DataService
from tandem.errors import NotFound
from tandem.evaluation.models import Evaluation
from tandem.governance.decisions.models import DecisionStatus
from tandem.governance.decisions.service import DecisionService
from tandem.governance.gates.models import (
    ACTIVITY,
    MONITORING_ACTIVITY,
    ChecklistItem,
    EndpointPlan,
    Item,
)
from tandem.governance.plan.models import CriterionKind, Raci, Verdict
from tandem.governance.plan.service import Evidence, PlanService
from tandem.registry.models import ModelVersion, Stage
from tandem.registry.service import RegistryService
from tandem.tracking.service import TrackingService

TRAINING_ROLES = ("train", "input")
_RELEASE_KINDS = (CriterionKind.PRODUCT, CriterionKind.FAIRNESS, CriterionKind.SYSTEM)

Result = tuple[bool, str, list[str]]
"""Whether an item holds, what holds or is missing (a sentence), and references to what decided
it (evaluations/ID, runs/ID, decisions/N, ...)."""


class Training(NamedTuple):
    """A dataset version the training run read, and whether it passed its contract."""

    project: str
    dataset: str
    version: int
    validation_passed: bool | None


@dataclass
class ItemContext:
    """What an item may look at: gathered once per checklist, shared by its items."""

    principal: Principal
    project: str
    to: Stage
    version: ModelVersion
    evidence: Evidence
    training: list[Training]
    fresh: list[Evaluation] = field(repr=False)
    stale: dict[str, str]
    waived: dict[str, int]  # criterion key -> the number of the decision that waived it
    serving: list[int]  # the versions of this model taking production traffic (RollbackTargets)
    raci: Raci
    required: list[str]
    waiting: list[str]
    departed: list[str]
    registry: RegistryService = field(repr=False)
    data: DataService = field(repr=False)
    tracking: TrackingService = field(repr=False)
    decisions: DecisionService = field(repr=False)
    # the production endpoints serving this model and what their monitors cover (None: the
    # monitoring domain is not wired in)
    monitoring: list[EndpointPlan] | None = None

    @cached_property
    def accepted_decisions(self) -> list[int]:
        """The numbers of the accepted decisions linked to this version, newest first (a
        waiver's decision is about one criterion, not about the version as a whole)."""
        ref = f"models/{self.version.model}@{self.version.version}"
        return [
            d.number
            for d in self.decisions.list_decisions(self.principal, self.project, link=ref)
            if d.status is DecisionStatus.ACCEPTED
            and not any(link.startswith("criteria/") for link in d.links)
        ]


class ItemCheck(NamedTuple):
    key: str
    title: str
    check: Callable[[ItemContext], Result]

    def evaluate(self, ctx: ItemContext) -> ChecklistItem:
        holds, detail, refs = self.check(ctx)
        return ChecklistItem(
            key=self.key, title=self.title, holds=holds, detail=detail, evidence=refs
        )


CHECKLIST: dict[str, ItemCheck] = {}
"""Every checklist item there is, by key."""

Check = Callable[[ItemContext], Result]


def item(key: str, title: str) -> Callable[[Check], Check]:
    """Register the decorated function as checklist item `key`, shown as `title`."""

    def register(check: Check) -> Check:
        if key in CHECKLIST:
            raise ValueError(f"checklist item {key!r} is registered already")
        CHECKLIST[str(key)] = ItemCheck(str(key), title, check)
        return check

    return register


# -- gathering the evidence, once per checklist -------------------------------------------------


def training_data(principal: Principal, version: ModelVersion, data: DataService) -> list[Training]:
    """The dataset versions the training run read, with their contract result."""
    if version.run_id is None:
        return []
    try:
        links = data.run_datasets(principal, version.run_id)
    except NotFound:
        return []
    found = []
    for link in links:
        if link.role in TRAINING_ROLES:
            ref = f"{link.project}/{link.dataset}@v{link.version}"
            dataset_version = data.get_version(principal, ref, details=False)
            found.append(
                Training(
                    link.project, link.dataset, link.version, dataset_version.validation_passed
                )
            )
    return found


def fresh_evaluations(
    principal: Principal, version: ModelVersion, evaluations: list[Evaluation], data: DataService
) -> tuple[list[Evaluation], dict[str, str]]:
    """The evaluations that may count as evidence, and why the others may not."""
    fresh, stale = [], {}
    for e in evaluations:
        ref = f"{e.dataset_project}/{e.dataset}@v{e.dataset_version}"
        if e.created_at < version.created_at:
            stale[e.id] = f"evaluation {e.id[:8]} predates the version"
            continue
        try:
            passed = data.get_version(principal, ref, details=False).validation_passed
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


# -- the default items ---------------------------------------------------------------------------


@item(
    Item.REPRODUCIBLE,
    "The training run is reproducible: code version, data versions, params, seed and "
    "environment recorded",
)
def reproducible(ctx: ItemContext) -> Result:
    version = ctx.version
    if version.run_id is None:
        return False, "the run that trained it was purged", []
    try:
        run = ctx.tracking.get_run(ctx.principal, version.run_id)
    except NotFound:
        return False, f"run {version.run_id} is not readable", []
    env = run.environment
    missing = [
        name
        for name, present in (
            ("code version", env is not None and env.code.commit is not None),
            ("data versions", bool(ctx.training)),
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


@item(Item.TRAINING_DATA_CONTRACT, "The training data passed its contract")
def training_data_contract(ctx: ItemContext) -> Result:
    training = ctx.training
    if not training:
        return False, "the training run recorded no training dataset version", []
    refs = [f"datasets/{t.dataset}@v{t.version}" for t in training]
    failing = [r for t, r in zip(training, refs, strict=True) if t.validation_passed is not True]
    if failing:
        return (
            False,
            "not passed (failed, or never checked against a contract): " + ", ".join(failing),
            refs,
        )
    return True, f"passed: {', '.join(refs)}", refs


@item(Item.HOLDOUT_EVALUATION, "An evaluation exists on a held-out dataset version")
def holdout_evaluation(ctx: ItemContext) -> Result:
    used = {(t.project, t.dataset, t.version) for t in ctx.training}
    held_out = [
        e for e in ctx.fresh if (e.dataset_project, e.dataset, e.dataset_version) not in used
    ]
    if not held_out:
        why = (
            "; ".join(ctx.stale.values())
            or "none on a dataset version the training run did not use"
        )
        return False, f"no usable evaluation: {why}", []
    e = held_out[0]
    return True, f"on {e.dataset}@v{e.dataset_version}", [f"evaluations/{e.id}"]


def _criteria(ctx: ItemContext, kinds: Sequence[CriterionKind]) -> Result:
    chosen = [c for c in ctx.evidence.criteria if c.kind in kinds]
    if not chosen:
        return True, "the project has no such criteria", []
    problems, met, refs = [], [], []
    for criterion in chosen:
        if criterion.key in ctx.waived:
            met.append(f"{criterion.key} waived (decision {ctx.waived[criterion.key]})")
            refs.append(f"decisions/{ctx.waived[criterion.key]}")
            continue
        row = PlanService.judge(criterion, ctx.fresh, ctx.evidence.runs)
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


@item(Item.MODEL_CRITERIA, "Model criteria met or waived")
def model_criteria(ctx: ItemContext) -> Result:
    return _criteria(ctx, (CriterionKind.MODEL,))


@item(Item.RELEASE_CRITERIA, "Product, fairness and system criteria met or waived")
def release_criteria(ctx: ItemContext) -> Result:
    return _criteria(ctx, _RELEASE_KINDS)


@item(Item.NO_PII, "No unresolved personal-data finding in the training data")
def no_pii(ctx: ItemContext) -> Result:
    flagged = []
    for t in ctx.training:
        with contextlib.suppress(NotFound):  # unreadable data counts as unchecked
            columns = ctx.data.unresolved_pii(
                ctx.principal, f"{t.project}/{t.dataset}@v{t.version}"
            )
            flagged += [f"{t.dataset}@v{t.version}: {c}" for c in columns]
    if not ctx.training:
        return False, "no training data recorded to check", []
    if flagged:
        return (
            False,
            f"undeclared personal data (classify it in the contract): {', '.join(flagged)}",
            [],
        )
    return True, "no undeclared personal data in the training data", []


@item(
    Item.MONITORING_PLAN,
    "A monitoring plan exists: someone is accountable for monitoring, and the production "
    "endpoints have drift, performance and SLO monitors with an owner",
)
def monitoring_plan(ctx: ItemContext) -> Result:
    """The RACI's accountable for monitoring, and every production endpoint the model serves
    watched for drift, performance (realised or estimated) and an SLO, each with an owner. A
    first release serves no production endpoint yet: its deploy creates those monitors (the
    monitoring domain's defaults, owned by the accountable)."""
    owner = ctx.raci.accountable(MONITORING_ACTIVITY)
    if owner is None:
        return False, "the RACI names nobody accountable for monitoring", []
    if not ctx.monitoring:
        return True, f"{owner} is accountable for monitoring", []
    gaps = [f"{p.endpoint}: no {', no '.join(p.missing)}" for p in ctx.monitoring if p.missing]
    refs = sorted({m for p in ctx.monitoring for m in p.monitors})
    if gaps:
        return False, "monitors missing on production endpoints: " + "; ".join(gaps), refs
    endpoints = ", ".join(p.endpoint for p in ctx.monitoring)
    return True, f"{owner} is accountable; {endpoints} watched for drift, performance and SLO", refs


@item(Item.ROLLBACK_TARGET, "A rollback target exists")
def rollback_target(ctx: ItemContext) -> Result:
    """Another version of the model serves a production endpoint (a rollout replacing it keeps
    it as the endpoint's rollback target), or a first release is accepted by a decision."""
    version = ctx.version
    others = [v for v in ctx.serving if v != version.version]
    if others:
        return (
            True,
            f"version {others[-1]} serves production: it is the rollback target",
            [f"models/{version.model}@{others[-1]}"],
        )
    linked = ctx.accepted_decisions
    if linked:
        return (
            True,
            f"a first release, accepted in decision {linked[0]}",
            [f"decisions/{linked[0]}"],
        )
    return (
        False,
        (
            f"no other version of {version.model} serves a production endpoint; for a first "
            "release, link an accepted decision record to this version"
        ),
        [],
    )


@item(Item.DECISION_RECORD, "An accepted decision record links to this version")
def decision_record(ctx: ItemContext) -> Result:
    linked = ctx.accepted_decisions
    if not linked:
        return (
            False,
            f"no accepted decision links to models/{ctx.version.model}@{ctx.version.version}",
            [],
        )
    return True, f"decision {linked[0]}", [f"decisions/{linked[0]}"]


@item(Item.SIGN_OFFS, "Sign-offs from the members the RACI marks accountable")
def sign_offs(ctx: ItemContext) -> Result:
    activity = ACTIVITY[ctx.to]
    if not ctx.raci.accountable(activity):
        if ctx.to is Stage.READY_FOR_REVIEW:
            return True, "the RACI has no evaluation activity: no sign-off needed", []
        return False, f"the RACI names nobody accountable for {activity!r}", []
    if ctx.departed:
        who = ", ".join(ctx.departed)
        return False, f"{who} left the project: update the RACI for {activity!r}", []
    if ctx.waiting:
        return False, f"waiting for {', '.join(ctx.waiting)}", []
    return True, f"approved by {', '.join(ctx.required)}", []


def evaluate(keys: Sequence[str], ctx: ItemContext) -> list[ChecklistItem]:
    """The checklist of `keys`, in order, each item checked against `ctx`."""
    return [CHECKLIST[key].evaluate(ctx) for key in keys]
