"""Monitors and their results: the shapes shared by the hub, the SDK, the CLI, the worker and
alerting (docs/monitoring.md, ADR 23).

A monitor is a signal over an endpoint's live traffic (or one model version's share of it),
computed per window ("1h": [10:00, 11:00), [11:00, 12:00), ...) and compared with a condition
(`drifted_share >= 0.25`). Each closed window is evaluated once and its result kept: one
`MonitorResult` per (monitor, window), which alerting reads in order (`results_since`) and
turns into Prometheus-style alert state (`for`, `keep_firing_for`).
"""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tandem.errors import InvalidInput


class SignalKind(enum.StrEnum):
    """What a monitor measures."""

    FEATURE_DRIFT = "feature-drift"  # live inputs against the training data's stored profile
    PREDICTION_DRIFT = "prediction-drift"  # the score distribution and the positive rate
    CONTRACT = "contract"  # the training data's contract checked on live inputs
    PERFORMANCE = "performance"  # realised, once labels arrive (outcomes domain)
    ESTIMATED_PERFORMANCE = "estimated-performance"  # CBPE before labels (outcomes domain)
    SLO = "slo"  # latency or error-rate objective with burn-rate windows (monitoring/slo.py)
    KPI = "kpi"  # a business figure pushed from outside (outcomes domain)


class Severity(enum.StrEnum):
    """Where a breach goes: a page wakes someone (and opens an incident), a ticket waits for
    working hours, info is recorded only."""

    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


# -- windows and conditions ------------------------------------------------------------------

_DURATION = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d)$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MIN_WINDOW_MS = 60_000
MAX_WINDOW_MS = 7 * 86_400_000


def duration_ms(text: str) -> int:
    """`"90s"`, `"5m"`, `"1h"`, `"3d"` in milliseconds, or InvalidInput."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput(
            f"duration {text!r} is not a number and a unit (s, m, h or d), e.g. 1h or 30m"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


_CONDITION = re.compile(
    r"^\s*([a-z_][a-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


class Condition(BaseModel):
    """`figure OP number`: the monitor breaches when it holds for the window's value."""

    model_config = ConfigDict(frozen=True)

    figure: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise InvalidInput(
                f'condition {text!r} is not FIGURE OP NUMBER, e.g. "drifted_share >= 0.25" '
                "(OP is one of <, <=, >, >=, ==, !=)"
            )
        figure, op, number = match.groups()
        return cls(figure=figure, op=op, threshold=float(number))

    def holds(self, value: float) -> bool:
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "==": value == self.threshold,
            "!=": value != self.threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.figure} {self.op} {self.threshold:g}"


FIGURES: dict[SignalKind, dict[str, str]] = {
    SignalKind.FEATURE_DRIFT: {
        "drifted_share": "share of the monitored columns that drifted (0..1)",
        "drifted_count": "number of monitored columns that drifted",
        "max_score": "the largest drift statistic over the columns",
    },
    SignalKind.PREDICTION_DRIFT: {
        "score_drift": "drift statistic of the score distribution against the reference",
        "positive_rate_delta": "absolute change of the positive rate against the reference",
        "positive_rate": "share of positive predictions in the window",
    },
    SignalKind.CONTRACT: {
        "violations": "failed contract checks on the window's live inputs",
        "failed_share": "share of the contract's checks that failed (0..1)",
    },
    SignalKind.PERFORMANCE: {
        "roc_auc": "realised ROC AUC",
        "accuracy": "realised accuracy",
        "precision": "realised precision",
        "recall": "realised recall",
        "ece": "expected calibration error",
        "labelled": "labelled predictions in the window",
    },
    SignalKind.ESTIMATED_PERFORMANCE: {
        "roc_auc": "CBPE estimate of ROC AUC",
        "accuracy": "CBPE estimate of accuracy",
    },
    SignalKind.SLO: {
        "burn_rate": "error-budget burn rate over the long window (1: spending the budget)",
        "error_rate": "share of failed requests",
        "latency_ms": "latency percentile, ms",
    },
    SignalKind.KPI: {"value": "the KPI's value for the window"},
}
"""Which figures a condition may name, per kind: the result's `value` is the condition's figure,
the other figures go to `details`."""

DEFAULT_CONDITIONS: dict[SignalKind, str] = {
    SignalKind.FEATURE_DRIFT: "drifted_share >= 0.25",
    SignalKind.PREDICTION_DRIFT: "score_drift >= 0.2",
    SignalKind.CONTRACT: "violations > 0",
    SignalKind.PERFORMANCE: "roc_auc < 0.7",
    SignalKind.ESTIMATED_PERFORMANCE: "roc_auc < 0.7",
    SignalKind.SLO: "burn_rate >= 14.4",
    SignalKind.KPI: "value < 0",
}


def params_from_pairs(pairs: list[str]) -> dict[str, Any]:
    """A monitor's params from `key=value` pairs (the CLI's `--param`, the web form's lines):
    the value read as JSON when it is (numbers, lists), else as text."""
    import orjson

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"invalid param {pair!r}: use KEY=VALUE, e.g. method=psi", field="params"
            )
        try:
            params[key.strip()] = orjson.loads(value)
        except orjson.JSONDecodeError:
            params[key.strip()] = value
    return params


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


class MonitorSpec(BaseModel):
    """A monitor as declared (CLI, SDK, REST, project.yaml `monitors:`)."""

    name: str = Field(description="[a-z0-9][a-z0-9-]*, unique in the project")
    endpoint: str = Field(description="the endpoint whose traffic is watched")
    version: str | None = Field(
        None,
        description="`model@version` to watch only that version's share of the traffic; "
        "none: every version serving",
    )
    kind: SignalKind
    window: str = Field("1h", description="window length: 5m, 1h, 1d (1 minute to 7 days)")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="per kind: feature-drift {columns, method, threshold, reference: "
        "'dataset@version'}; prediction-drift {method}; slo {objective, metric, threshold_ms}; "
        "kpi {metric}; performance {metric, slice}",
    )
    condition: str | None = Field(
        None, description='FIGURE OP NUMBER, e.g. "drifted_share >= 0.25"; the kind\'s default'
    )
    for_: str | None = Field(
        None,
        alias="for",
        description="how long the condition must hold before an alert fires (Prometheus `for`)",
    )
    keep_firing_for: str | None = Field(None, description="keep firing this long after recovery")
    severity: Severity = Severity.TICKET
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    runbook: str | None = Field(None, description="a link or a playbook name")
    owner: str | None = Field(None, description="the member who answers for this monitor")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a monitor name is [a-z0-9][a-z0-9-]*, up to 64 characters")
        return value

    @field_validator("window", "for_", "keep_firing_for")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            duration_ms(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _LABEL.match(key):
                raise ValueError(f"label name {key!r} is not [a-zA-Z_][a-zA-Z0-9_]*")
        return value

    def window_ms(self) -> int:
        return duration_ms(self.window)

    def parsed_condition(self) -> Condition:
        """The condition (the kind's default when none is given), checked against the kind's
        figures."""
        condition = Condition.parse(self.condition or DEFAULT_CONDITIONS[self.kind])
        figures = FIGURES[self.kind]
        if condition.figure not in figures and self.kind is not SignalKind.KPI:
            raise InvalidInput(
                f"a {self.kind} monitor has no figure {condition.figure!r}: use one of "
                + ", ".join(figures)
            )
        return condition


class Monitor(MonitorSpec):
    """A stored monitor."""

    id: str
    project: str
    created_at: int
    created_by: str
    updated_at: int
    source: str = Field(
        "user", description="user (CLI/SDK/REST), project (project.yaml) or default (deploy)"
    )
    last_window_end: int | None = Field(None, description="end of the last evaluated window")

    @property
    def ref(self) -> str:
        return f"{self.project}/monitors/{self.name}"


class MonitorResult(BaseModel):
    """One monitor's figure for one window."""

    seq: int = Field(0, description="order of evaluation in the hub (alerting reads in order)")
    project: str
    monitor: str
    endpoint: str
    kind: SignalKind
    severity: Severity
    window_start: int
    window_end: int
    version: str | None = Field(None, description="`model@version` when the monitor has one")
    value: float | None = Field(None, description="the condition's figure; none with no data")
    condition: str
    breached: bool | None = Field(description="the condition held; none: no data to judge")
    estimated: bool = Field(False, description="an estimate (CBPE), not a realised figure")
    band_low: float | None = None
    band_high: float | None = None
    samples: int = Field(0, description="predictions (or labels) the figure rests on")
    details: dict[str, Any] = Field(default_factory=dict)
    evaluated_at: int
    evaluated_by: str


class MonitorStatus(BaseModel):
    """A monitor and its newest window's result (the list's rows)."""

    monitor: Monitor
    latest: MonitorResult | None = None


class CheckSummary(BaseModel):
    """What one pass of evaluation did."""

    evaluated: int = Field(0, description="windows evaluated")
    breached: int = 0
    no_data: int = 0
    skipped: int = Field(0, description="windows another worker holds or evaluated")
    failed: int = Field(0, description="evaluations that raised (kept for the next pass)")
    errors: list[str] = Field(default_factory=list)
    results: list[MonitorResult] = Field(default_factory=list)


class MonitorUpdate(BaseModel):
    """What may change on a monitor after creation (everything else: delete and create)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    condition: str | None = None
    for_: str | None = Field(None, alias="for")
    keep_firing_for: str | None = None
    severity: Severity | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    runbook: str | None = None
    owner: str | None = None
