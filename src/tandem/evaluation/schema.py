"""The evaluation report's schema: what `tandem.evaluation.report` builds, plus the latency and
score summary the SDK measures, as pydantic models.

The server validates every report it records against `EvaluationReport`, so every reader (model
pages, model cards, scorecards, the CLI) can rely on its shape. Reports stored before that
check existed are read back through `readable_report`, which keeps the parts that fit the schema
and names the ones it leaves out, so one malformed report never breaks a page.

Figures are numbers or null (JSON has no NaN: undefined figures, such as ROC AUC in a group with
one class, are null). Metric names and slice labels are free keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

Figure = float | None
Metrics = dict[str, Figure]  # metric name -> value (null: undefined)
Count = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _has_count(group: Metrics) -> Metrics:
    count = group.get("count")
    if count is None or not 0 <= count < float("inf"):
        raise ValueError("a slice group needs `count`, the number of rows in it")
    return group


SliceGroup = Annotated[Metrics, AfterValidator(_has_count)]


class _Part(BaseModel):
    # strict: a figure is a number (not a string, not a boolean), a count an integer
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FairnessGroup(_Part):
    count: Count
    selection_rate: Figure
    tpr: Figure
    fpr: Figure
    fnr: Figure
    tnr: Figure
    error_rate: Figure


class Fairness(_Part):
    demographic_parity_difference: Figure
    demographic_parity_ratio: Figure
    equalized_odds_difference: Figure
    equalized_odds_ratio: Figure
    groups: dict[str, FairnessGroup]


class Calibration(_Part):
    bins: int = Field(ge=1)
    edges: list[Figure]
    mean_predicted: list[Figure]
    positive_rate: list[Figure]
    count: list[int]
    ece: Figure
    mce: Figure

    @model_validator(mode="after")
    def _aligned(self) -> Calibration:
        if not len(self.mean_predicted) == len(self.positive_rate) == len(self.count):
            raise ValueError("mean_predicted, positive_rate and count must have one entry per bin")
        return self


class Roc(_Part):
    fpr: list[Figure]
    tpr: list[Figure]


class PrecisionRecall(_Part):
    recall: list[Figure]
    precision: list[Figure]


class Curves(_Part):
    roc: Roc | None = None
    pr: PrecisionRecall | None = None


class Interval(_Part):
    mean: Figure
    low: Figure
    high: Figure
    std: Figure


class Difference(Interval):
    p_value: Figure


class Bootstrap(_Part):
    resamples: int = Field(ge=0)
    seed: int
    confidence: float = Field(gt=0, lt=1)
    metrics: dict[str, Interval]


class Baseline(_Part):
    overall: Metrics
    difference: dict[str, Difference] = {}


class Latency(_Part):
    p50_ms: Figure
    p99_ms: Figure
    rows_per_second: Figure
    rows: int | None = None
    single_row_samples: int | None = None


class ScoreSummary(_Part):
    min: Figure
    max: Figure


class EvaluationReport(_Part):
    """One evaluation's report, as `evaluate_binary` / `evaluate_regression` build it and the
    SDK records it (see docs/evaluation.md for what each part holds)."""

    task: Literal["binary", "regression"]
    rows: int = Field(ge=1)
    positives: int | None = Field(None, ge=0)
    threshold: Figure = None
    overall: Metrics
    confusion: Metrics | None = None
    slices: dict[str, dict[str, SliceGroup]] = {}
    fairness: dict[str, Fairness] = {}
    calibration: Calibration | None = None
    curves: Curves | None = None
    baseline: Baseline | None = None
    bootstrap: Bootstrap | None = None
    latency: Latency | None = None
    score_summary: ScoreSummary | None = None


def report_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A validation failure as `{"location", "message"}` items, located under `report`."""
    return [
        {
            "location": ".".join(str(p) for p in ("report", *error["loc"])),
            "message": error["msg"],
        }
        for error in exc.errors(include_url=False)
    ]


# -- reading back what was stored before validation ---------------------------------------------

_FILLER: dict[str, Any] = {"task": "binary", "rows": 1, "overall": {}}
_BY_ENTRY = ("slices", "fairness")  # a bad slicing drops that slicing, not all of them


def _fits(name: str, value: Any) -> bool:
    try:
        EvaluationReport.model_validate({**_FILLER, name: value})
    except ValidationError:
        return False
    return True


def readable_report(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """`raw` (a stored report) as readers may rely on it, and the parts of it left out because
    they do not fit the schema (a report stored before reports were validated)."""
    if not isinstance(raw, dict):
        return {}, ["report"]
    try:
        EvaluationReport.model_validate(raw)
    except ValidationError:
        pass
    else:
        return raw, []
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in raw.items():
        if name in _BY_ENTRY and isinstance(value, dict):
            kept[name] = {}
            for key, entry in value.items():
                if _fits(name, {key: entry}):
                    kept[name][key] = entry
                else:
                    dropped.append(f"{name}.{key}")
        elif name in EvaluationReport.model_fields and _fits(name, value):
            kept[name] = value
        else:
            dropped.append(str(name))
    return kept, dropped
