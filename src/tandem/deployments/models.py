"""Endpoints, deployments, rollouts and their history: the shapes shared by the hub, the SDK,
the CLI and the serving gateway (docs/deployments.md, ADR 21).

An endpoint is a stable serving name in a project (`churn/endpoints/prod`). Its traffic policy
is a list of deployments (a model version, its runtime settings, a role and a weight); every
change of the policy bumps `policy_version` and is one immutable `DeploymentEvent`. The gateway
(a process of its own) fetches the `Policy`, serves it and reports `WindowStats`; the hub's
controller (`DeploymentService.analyse`) reads those figures against the rollout's guards and
advances, pauses or rolls back.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import MAX_NUMBER, Int64, NonNegativeInt
from tandem.errors import InvalidInput


class Strategy(enum.StrEnum):
    REPLACE = "replace"  # all traffic to the new version at once
    CANARY = "canary"  # weights step up (--steps), each step guarded by analysis
    BLUE_GREEN = "blue-green"  # the new version takes preview traffic; promote switches all
    SHADOW = "shadow"  # a copy of the traffic; answers discarded and compared with the primary's


class Role(enum.StrEnum):
    """A deployment's part in the endpoint's policy."""

    PRIMARY = "primary"  # serves the endpoint (weight > 0)
    CANARY = "canary"  # takes a share of the endpoint's traffic during a canary
    PREVIEW = "preview"  # blue-green candidate: only the gateway's preview URL reaches it
    SHADOW = "shadow"  # receives a mirrored copy; never answers a client
    STANDBY = "standby"  # the replaced version, kept warm for instant rollback until `warm_until`


class RolloutStatus(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # by a person, or by the analysis when a step had too few samples
    AWAITING_PROMOTION = "awaiting-promotion"  # blue-green preview, shadow: a person promotes
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"  # the new version did not load on the gateway


class Runtime(BaseModel):
    """How the gateway runs a deployment's model."""

    model_config = ConfigDict(extra="forbid")

    trusted: bool = Field(
        False, description="load a pickle-based version (runs its code); audited when set"
    )
    max_rows: int = Field(10_000, ge=1, le=1_000_000, description="rows per request, at most")


GUARD_METRICS: dict[str, str] = {
    "error_rate": "share of the candidate's requests that failed (0..1)",
    "p50_ms": "median latency of the candidate, ms",
    "p90_ms": "90th percentile latency of the candidate, ms",
    "p95_ms": "95th percentile latency of the candidate, ms",
    "p99_ms": "99th percentile latency of the candidate, ms",
    "agreement": "shadow: share of requests where candidate and primary predicted the same class",
    "score_diff": "shadow: mean absolute difference of the candidate's and primary's scores",
    "shadow_error_rate": "shadow: share of mirrored requests the candidate failed",
}
"""What a guard may read. Monitors of the new version join these with the monitoring domain."""

_GUARD = re.compile(
    r"^\s*([a-z_][a-z0-9_:.\-]*)\s*(<=|>=|<|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


class Guard(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Guard:
        """`"error_rate < 0.01"`, `"p99_ms <= 50"`: a metric of `GUARD_METRICS`, a comparison
        and a number, or InvalidInput saying which part is wrong."""
        match = _GUARD.match(text)
        if not match:
            raise InvalidInput(
                f'guard {text!r} is not METRIC OP NUMBER, e.g. "error_rate < 0.01" '
                "(OP is one of <, <=, >, >=)"
            )
        metric, op, number = match.groups()
        if metric not in GUARD_METRICS:
            raise InvalidInput(
                f"unknown guard metric {metric!r}: use one of {', '.join(GUARD_METRICS)}"
            )
        return cls(metric=metric, op=op, threshold=float(number))

    def holds(self, value: float) -> bool:
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="[a-z0-9][a-z0-9-]*")
    production: bool = Field(False, description="takes only versions that passed their gate")
    description: str = ""
    sticky_key: str | None = Field(
        None,
        description="a header (`header:X-User`) or a request field (`field:customer_id`) whose "
        "value always reaches the same version",
    )
    sampling: float = Field(1.0, ge=0.0, le=1.0, description="share of predictions logged")
    log_personal: bool = Field(
        False, description="log inputs of columns the data contract marks personal, unmasked"
    )


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    sticky_key: str | None = None
    sampling: float | None = Field(None, ge=0.0, le=1.0)
    log_personal: bool | None = None


class Deployment(BaseModel):
    """One model version in an endpoint's policy."""

    id: str = Field(description="short and stable, e.g. d-3f9a1c; the gateway routes by it")
    model: str
    version: int
    role: Role
    weight: float = Field(ge=0.0, le=100.0, description="percent of the endpoint's traffic")
    runtime: Runtime = Runtime()
    created_at: int
    created_by: str


class DeployRequest(BaseModel):
    """`tandem deploy MODEL@VERSION --to ENDPOINT --strategy ...`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    version: str = Field(description="a number or an alias")
    strategy: Strategy = Strategy.REPLACE
    steps: list[float] = Field(
        [5, 25, 50, 100], description="canary: the candidate's weight at each step, ending at 100"
    )
    interval_s: float = Field(60.0, gt=0, le=86_400, description="canary: seconds per step")
    guards: list[str] = Field([], description='e.g. "error_rate < 0.01", "p99_ms < 50"')
    min_samples: int = Field(
        100, ge=1, le=MAX_NUMBER, description="requests a step needs before it may advance"
    )
    mirror: float = Field(100.0, gt=0, le=100, description="shadow: percent of traffic copied")
    warm_s: float = Field(
        600.0,
        ge=0,
        le=7 * 86_400,
        description="blue-green: seconds the replaced version stays warm",
    )
    runtime: Runtime = Runtime()
    message: str = Field("", max_length=2000, description="why; kept in the history")


class TrafficChange(BaseModel):
    """Promote, pause, resume, rollback: who says why, and (optionally) the policy version they
    saw, so that of two people acting at once one wins and the other is told."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field("", max_length=2000)
    expected_policy_version: NonNegativeInt | None = None


class GuardResult(BaseModel):
    guard: str
    value: float | None = Field(description="None: no figure yet (no samples)")
    holds: bool | None


class Analysis(BaseModel):
    """One evaluation of a rollout step's guards."""

    at: int
    step: int
    samples: int
    decision: str = Field(description="advance | hold | rollback | inconclusive | complete")
    guards: list[GuardResult] = []
    reason: str = ""


class Rollout(BaseModel):
    id: str
    strategy: Strategy
    candidate: str = Field(description="deployment id of the new version")
    baseline: str | None = Field(description="deployment id it replaces (the rollback target)")
    steps: list[float] = []
    step: int = Field(0, description="index into steps")
    interval_s: float
    guards: list[str] = []
    min_samples: int
    mirror: float | None = None
    warm_s: float | None = None
    status: RolloutStatus
    reason: str = ""
    step_started_at: int
    started_at: int
    started_by: str
    finished_at: int | None = None
    last_analysis: Analysis | None = None


class Endpoint(BaseModel):
    project: str
    name: str
    production: bool
    description: str = ""
    sticky_key: str | None = None
    sampling: float = 1.0
    log_personal: bool = False
    policy_version: int
    deployments: list[Deployment] = []
    rollout: Rollout | None = Field(None, description="the current or last rollout")
    rollback_target: Deployment | None = Field(
        None, description="what `rollback` returns to: the deployment the current one replaced"
    )
    warm_until: int | None = Field(None, description="blue-green: the standby's end, ms")
    created_at: int
    created_by: str
    updated_at: int


class PolicyRoute(BaseModel):
    """One deployment as the gateway needs it: what to load and how much traffic it takes."""

    deployment: str
    model: str
    version: int
    role: Role
    weight: float
    mirror: float = Field(0.0, description="shadow: percent of requests copied to it")
    flavor: str
    format: str
    trusted: bool = Field(description="the version is pickle-based and the deployer trusted it")
    signature: dict[str, Any] | None = None
    files: list[dict[str, Any]] = Field([], description="path, oid, size of each model file")
    max_rows: int = 10_000


class Policy(BaseModel):
    """What a gateway serves, fetched with `If-None-Match: "<policy_version>"` (304 when
    unchanged). Personal-data columns are masked in the prediction log unless allowed."""

    project: str
    endpoint: str
    policy_version: int
    production: bool
    sticky_key: str | None = None
    sampling: float = 1.0
    masked_columns: list[str] = []
    routes: list[PolicyRoute] = []


class LatencyBuckets:
    """Fixed histogram bounds (ms) shared by the gateway and the hub, so windows merge by
    adding counts. The last bucket is +Inf."""

    BOUNDS_MS: tuple[float, ...] = (
        0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000,
        10000,
    )  # fmt: skip


class ShadowFigures(BaseModel):
    compared: NonNegativeInt = 0
    agreed: NonNegativeInt = 0
    abs_diff_sum: float = 0.0
    errors: NonNegativeInt = 0
    latency_ms_sum: float = 0.0


class WindowStats(BaseModel):
    """One gateway's figures for one deployment over [start, end) (ms since the epoch)."""

    model_config = ConfigDict(extra="forbid")

    deployment: str
    start: Int64
    end: Int64
    requests: NonNegativeInt
    errors: NonNegativeInt
    latency_counts: list[NonNegativeInt] = Field(
        description="one count per LatencyBuckets.BOUNDS_MS bound, then +Inf"
    )
    shadow: ShadowFigures | None = None
    dropped_logs: NonNegativeInt = Field(0, description="prediction-log entries dropped (full)")


class StatsReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gateway: str = Field(min_length=1, max_length=100, description="the reporting gateway's id")
    policy_version: NonNegativeInt
    windows: list[WindowStats] = Field(max_length=10_000)
    load_failures: dict[str, str] = Field(
        {}, description="deployment id -> why its model did not load on this gateway"
    )


class ReportAck(BaseModel):
    policy_version: int = Field(description="refetch the policy when it differs from yours")
    analysis: Analysis | None = None


class EventKind(enum.StrEnum):
    CREATED = "created"
    DEPLOYED = "deployed"
    STEP = "step"
    PROMOTED = "promoted"
    PAUSED = "paused"
    RESUMED = "resumed"
    ROLLED_BACK = "rolled-back"
    COMPLETED = "completed"
    FAILED = "failed"
    STANDBY_RELEASED = "standby-released"
    SETTINGS = "settings"


class DeploymentEvent(BaseModel):
    """One immutable change of an endpoint's traffic."""

    seq: int
    endpoint: str
    kind: EventKind
    at: int
    actor: str = Field(description="a user name, or `analysis`")
    actor_kind: str = Field(description="person | analysis | gateway")
    before: dict[str, float] = Field(description="`model@version` -> weight")
    after: dict[str, float]
    policy_version: int
    evidence: dict[str, Any] = Field(
        {}, description="guard values, gate id, decision record, rollout id"
    )
    message: str = ""


class ServedAt(BaseModel):
    """What served an endpoint at a moment, who put it there and why."""

    endpoint: str
    at: int
    weights: dict[str, float] = Field(description="`model@version` -> weight")
    event: DeploymentEvent | None = Field(description="the change that set these weights")


class WindowPoint(BaseModel):
    """Merged figures of one version over one time bucket, for the charts."""

    deployment: str
    label: str = Field(description="model@version")
    start: int
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    latency_counts: list[int] = Field(
        default_factory=list,
        description="the bucket's latency histogram: one count per LatencyBuckets bound, then "
        "+Inf (latency SLOs count the requests over a threshold from it)",
    )
    shadow: ShadowFigures | None = Field(
        None, description="a shadow deployment's comparison with the primary in this bucket"
    )


class Serving(BaseModel):
    """Where a model version serves: for the model version and project pages."""

    project: str
    endpoint: str
    production: bool
    model: str
    version: int
    role: Role
    weight: float
