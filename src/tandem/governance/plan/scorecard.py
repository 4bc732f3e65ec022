"""Judging success criteria against evidence: pure functions over evaluations and runs.

For each criterion the newest piece of evidence that carries its figure decides it:
- model: an evaluation on the criterion's dataset (any, if it names none): the overall metric,
  or the metric in the slice `column=value` (`a+b=x|y` for a joint slice);
- fairness: an evaluation's fairness figure across the protected attribute `slice`; with no
  slice, across every protected attribute it reports, and the worst one decides;
- system: an evaluation's latency (`p50_ms`, `p99_ms`, `rows_per_second`), else a run's metric;
- product: a run's metric (runs tagged `tandem.model=NAME@N`, e.g. an A/B test's analysis,
  then the version's training run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tandem.evaluation.models import Evaluation
from tandem.governance.plan.models import (
    COMPARATORS,
    Criterion,
    CriterionKind,
    Evidence,
    ScorecardRow,
    Verdict,
)
from tandem.tracking.models import Run

LATENCY_KEYS = ("p50_ms", "p99_ms", "rows_per_second")


def dataset_matches(wanted: str | None, evaluation: Evaluation) -> bool:
    """`wanted`: None (any), NAME, NAME@vN, or PROJECT/NAME[@vN] for another project's data."""
    if wanted is None:
        return True
    name, _, version = wanted.partition("@")
    project, _, name = name.rpartition("/")
    if project and project != evaluation.dataset_project:
        return False
    if not project and evaluation.dataset_project != evaluation.project:
        return False
    if name != evaluation.dataset:
        return False
    return not version or version.lstrip("v") == str(evaluation.dataset_version)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _from_report(criterion: Criterion, report: dict[str, Any]) -> float | None:
    metric, cut = criterion.metric, criterion.slice
    if criterion.kind is CriterionKind.MODEL:
        if not cut:
            return _number((report.get("overall") or {}).get(metric))
        column, _, label = cut.partition("=")
        group = ((report.get("slices") or {}).get(column) or {}).get(label) or {}
        return _number(group.get(metric))
    if criterion.kind is CriterionKind.FAIRNESS:
        fairness = report.get("fairness") or {}
        attributes = [cut] if cut else sorted(fairness)
        values = [_number((fairness.get(a) or {}).get(metric)) for a in attributes]
        if not values or any(v is None for v in values):
            return None
        # the attribute that fares worst against the threshold decides
        return min(values, key=lambda v: _margin(criterion, v))  # type: ignore[arg-type]
    if criterion.kind is CriterionKind.SYSTEM:
        return _number((report.get("latency") or {}).get(metric))
    return None


def _margin(criterion: Criterion, value: float) -> float:
    """How far `value` clears the threshold (negative: misses it)."""
    if criterion.comparator in (">=", ">"):
        return value - criterion.threshold
    if criterion.comparator in ("<=", "<"):
        return criterion.threshold - value
    return -abs(value - criterion.threshold)


def _row(criterion: Criterion, value: float, evidence: Evidence) -> ScorecardRow:
    met = COMPARATORS[criterion.comparator](value, criterion.threshold)
    verdict = Verdict.MET if met else Verdict.NOT_MET
    return ScorecardRow(criterion=criterion, verdict=verdict, value=value, evidence=evidence)


def judge(
    criterion: Criterion, evaluations: Sequence[Evaluation], runs: Sequence[Run]
) -> ScorecardRow:
    """`evaluations` (with reports) and `runs`, newest first, decide `criterion`."""
    candidates = [e for e in evaluations if dataset_matches(criterion.dataset, e)]
    if criterion.kind is not CriterionKind.PRODUCT:
        for evaluation in candidates:
            value = _from_report(criterion, evaluation.report or {})
            if value is not None:
                return _row(criterion, value, _evaluation_evidence(evaluation))
    if criterion.kind in (CriterionKind.PRODUCT, CriterionKind.SYSTEM):
        for run in runs:
            value = _number(run.metrics.get(criterion.metric))
            if value is not None:
                evidence = Evidence(
                    kind="run", id=run.id, ref=f"runs/{run.id}", created_at=run.start_time
                )
                return _row(criterion, value, evidence)
    return ScorecardRow(
        criterion=criterion, verdict=Verdict.NO_EVIDENCE, note=_why(criterion, candidates)
    )


def _evaluation_evidence(evaluation: Evaluation) -> Evidence:
    dataset = f"{evaluation.dataset}@v{evaluation.dataset_version}"
    if evaluation.dataset_project != evaluation.project:
        dataset = f"{evaluation.dataset_project}/{dataset}"
    return Evidence(
        kind="evaluation",
        id=evaluation.id,
        ref=f"evaluations/{evaluation.id}",
        dataset=dataset,
        created_at=evaluation.created_at,
    )


def _why(criterion: Criterion, candidates: Sequence[Evaluation]) -> str:
    on = f" on {criterion.dataset}" if criterion.dataset else ""
    where = f" in slice {criterion.slice}" if criterion.slice else ""
    if criterion.kind is CriterionKind.PRODUCT:
        return f"no run tagged tandem.model for this version has logged {criterion.metric}"
    if not candidates:
        return f"no evaluation of this version{on} yet"
    if criterion.kind is CriterionKind.SYSTEM:
        return f"no evaluation{on} measured {criterion.metric}, and no run logged it"
    return f"the evaluations{on} report no {criterion.metric}{where}"
