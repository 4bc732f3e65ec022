"""Outcomes: what happened after a prediction. Labels that arrive late, joined to the prediction
log by request id; realised performance per model version and hourly window; an estimate of it
before the labels come (CBPE); business KPIs posted from outside.

A label file (CSV or Parquet; over REST an Arrow IPC stream or Parquet) has the columns
`LABEL_COLUMNS`: `request_id`, `label`, and optionally `at` (when the outcome was observed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from tandem.core.validation import NonNegativeInt

WINDOW_MS = 3_600_000
"""The base window: realised metrics are kept per model version and hour."""

LABEL_COLUMNS: dict[str, str] = {
    "request_id": "string: the id the gateway logged the prediction under",
    "label": "number: 0 or 1 for a classifier (true/false too), any number for a regressor",
    "at": "optional: when the outcome was observed (a timestamp, or ms since the epoch)",
}
MAX_LABEL_ROWS = 5_000_000
MAX_LABEL_BYTES = 256 * 1024 * 1024
ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
PERFORMANCE_METRICS = ("roc_auc", "precision", "recall", "accuracy", "ece")
ESTIMATED_METRICS = ("roc_auc", "accuracy")

Kind = Literal["binary", "regression"]


class WindowKey(BaseModel):
    """One model version's window of predictions: [start, end) in ms since the epoch."""

    model: str
    version: int
    start: int
    end: int


class LabelReceipt(BaseModel):
    """What adding a label file did."""

    batch: str = Field(description="the label batch's id")
    endpoint: str
    rows: int = Field(description="labels in the file")
    matched: int = Field(description="labels joined to a logged prediction")
    unknown: int = Field(description="labels whose request id the endpoint never logged")
    unknown_sample: list[str] = Field(
        default_factory=list, description="up to 20 of the unknown request ids"
    )
    duplicates: int = Field(
        description="labels that replace an earlier label of the same request (the last wins)"
    )
    windows: list[WindowKey] = Field(description="the windows whose metrics were recomputed")
    created_at: int


class LabelBatch(BaseModel):
    id: str
    endpoint: str
    rows: int
    matched: int
    unknown: int
    duplicates: int
    size: int
    oid: str
    created_at: int
    created_by: str


class Band(BaseModel):
    """A bootstrap (realised) or sampling (estimated) interval."""

    low: float | None
    high: float | None


class Reliability(BaseModel):
    """The reliability curve: per non-empty probability bin, the mean predicted probability,
    the observed positive rate and the count."""

    mean_predicted: list[float]
    positive_rate: list[float]
    count: list[int]


class SliceFairness(BaseModel):
    """Fairlearn's parity figures over the groups of one input column, with per-group rates."""

    slice: str
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    groups: dict[str, dict[str, float | None]]


class WindowMetrics(BaseModel):
    """Realised performance of one model version in one window, from the labels joined so far."""

    endpoint: str
    model: str
    version: int
    start: int
    end: int
    kind: Kind
    samples: int = Field(description="labelled predictions in the window")
    positives: int | None = None
    metrics: dict[str, float | None] = Field(
        description="roc_auc, precision, recall, accuracy, ece (a regressor: mae, rmse, r2)"
    )
    bands: dict[str, Band] = Field(default_factory=dict, description="bootstrap 95% bands")
    reliability: Reliability | None = None
    fairness: list[SliceFairness] = Field(default_factory=list)
    updated_at: int


class Estimate(BaseModel):
    """One metric of one model version in one window: estimated by CBPE from the scores alone,
    or realised once the window's labels arrived (`estimated` False)."""

    endpoint: str
    model: str
    version: int
    start: int
    end: int
    metric: str
    value: float | None
    band: Band
    estimated: bool
    samples: int = Field(description="predictions the figure is computed over")


class ChangedWindow(BaseModel):
    """A window whose realised metrics changed (labels arrived) after a given time."""

    model: str
    version: int
    start: int
    end: int
    updated_at: int


class KpiCreate(BaseModel):
    name: str = Field(description="the KPI's name, e.g. retention_rate")
    value: float
    at: NonNegativeInt = Field(description="the time the figure is for, ms since the epoch")
    version: str | None = Field(
        None, description="`model@version` the figure is attributed to (it must exist)"
    )


class Kpi(BaseModel):
    endpoint: str
    name: str
    value: float
    at: int
    model: str | None = None
    version: int | None = None
    created_at: int
    created_by: str


@dataclass
class WindowFigures:
    """One figure of one window for a monitor (`OutcomeService.window_figures`), shaped as the
    monitoring domain's signal figures: `figures` by name, the rows they rest on, whether the
    value is an estimate and its band; `judged` False when there is nothing to judge."""

    figures: dict[str, float | None]
    samples: int
    details: dict[str, Any] = field(default_factory=dict)
    estimated: bool = False
    band: tuple[float | None, float | None] = (None, None)
    state: dict[str, Any] | None = None
    verdict: bool | None = None
    judged: bool = True
