"""Tracking models shared by the server and the SDK: one `Run` class on both sides."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tandem.core.validation import Int64


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class CodeVersion(BaseModel):
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    diff_hash: str | None = Field(None, description="BLAKE3 of `git diff HEAD` when dirty")
    repository: str | None = None


class Environment(BaseModel):
    """What a run recorded about where it ran, captured by the SDK at start."""

    # A factory, not a shared instance: pydantic deep-copies a model default for every use.
    code: CodeVersion = Field(default_factory=CodeVersion)
    python: str | None = None
    platform: str | None = None
    packages_hash: str | None = Field(None, description="BLAKE3 of the sorted `name==version` list")
    packages_artifact: str | None = Field(None, description="artifact path of that list")
    command: list[str] | None = None
    cwd: str | None = None
    hostname: str | None = None
    pid: Int64 | None = None


class Run(BaseModel):
    """A run as the API returns it. With `fields`, params/metrics/tags hold only those asked for."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")  # NaN: "NaN", ADR 33

    id: str
    project: str
    name: str
    status: RunStatus
    user: str
    start_time: int
    end_time: Int64 | None = None
    seed: int | None = None
    environment: Environment | None = None
    deleted_at: int | None = None
    params: dict[str, str] = {}
    metrics: dict[str, float] = Field({}, description="latest value per metric key")
    tags: dict[str, str] = {}

    @property
    def ref(self) -> str:
        return f"{self.project}/runs/{self.id}"


class RunUpdate(BaseModel):
    name: str | None = None
    status: RunStatus | None = None
    end_time: Int64 | None = None


# A metric value is a JSON number: strict, so the string "41" is refused (422) rather than
# coerced to 41.0, and so is `true`. Integers are numbers and become floats. Strict parsing
# costs nothing measurable (100k points, two noisy runs: 39-49 ms lax, 31-45 ms strict).
# NaN and the infinities (ADR 33): JSON has no such numbers, so they come as proto-JSON's
# strings "NaN", "Infinity", "-Infinity" (or as the NaN/Infinity tokens Python's json writes);
# the union tries the number first, so a list of numbers costs the same.
if TYPE_CHECKING:
    MetricValue = float  # what validation gives
else:
    MetricValue = Annotated[
        Annotated[float, Field(strict=True)]
        | Annotated[Literal["NaN", "Infinity", "-Infinity"], AfterValidator(float)],
        Field(union_mode="left_to_right"),
    ]


class MetricColumns(BaseModel):
    """Metric points as parallel arrays: 9x faster to parse than a list of objects and half the
    bytes (measured: 10 M vs 1.1 M points/s in pydantic). `timestamp` may be omitted (server
    time) and `step` may be omitted (0)."""

    key: list[str]
    value: list[MetricValue]
    step: list[Int64] | None = None  # the service says why a negative step is refused
    timestamp: list[Int64] | None = None

    def __len__(self) -> int:
        return len(self.key)


class RunBatch(BaseModel):
    """Params, tags and metric points applied atomically; `batch_id` makes a retry harmless."""

    batch_id: str | None = Field(None, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: MetricColumns | None = None
    end_status: RunStatus | None = Field(
        None, description="then end the run with this status, in the same transaction"
    )
    end_time: Int64 | None = None


class RunCreate(BaseModel):
    """A new run. With `id` (chosen by the client), creating the same run again is acknowledged
    and changes nothing, so the SDK can create a short run together with its first `batch` in
    one request and retry it safely (ADR 19)."""

    id: str | None = Field(
        None, description="the run's id, 32 lowercase hex digits; default: chosen by the server"
    )
    name: str | None = None
    seed: Int64 | None = None
    start_time: Int64 | None = None
    environment: Environment = Field(default_factory=Environment)
    params: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    create_project: bool = Field(False, description="create the project if it does not exist")
    link_artifacts: dict[str, str] = Field(
        default_factory=dict,
        description="artifact path -> oid of a blob the server already stores (no upload)",
    )
    batch: RunBatch | None = Field(
        None, description="applied to the run in the same transaction, as POST /runs/{id}/batch"
    )


class BatchResult(BaseModel):
    applied: bool = Field(description="false when this batch id had been applied before")
    points: int


class LatestMetric(NamedTuple):
    """A run's latest point of one metric key (NaN is a value: ADR 33)."""

    key: str
    value: float
    step: int
    timestamp: int


class MetricHistory(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")  # NaN as "NaN" (ADR 33)

    run_id: str
    key: str
    step: list[int]
    timestamp: list[int]
    value: list[float]


class Artifact(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    oid: str
    size: int
    created_at: int


class RunSearch(BaseModel):
    project: str
    filter: str | None = None
    order_by: list[str] = []
    limit: Int64 = 100
    cursor: str | None = None
    fields: list[str] | None = Field(
        None,
        description="return only these: attribute names and `params.K`, `metrics.K`, `tags.K`, "
        "or `params.*`, `metrics.*`, `tags.*`; default everything",
    )
    include_deleted: bool = False


class RunComparison(BaseModel):
    runs: list[Run]
    params_differ: list[str] = Field(description="param keys whose values differ between runs")
    params_same: list[str]
    metric_keys: list[str]
