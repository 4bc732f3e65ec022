"""MLflow's proto-JSON on the wire: the request shapes the `mlflow` client sends and the reply
shapes it reads, with tandem's models on the other side.

Conventions (protobuf's JSON mapping, as MLflow's server writes it): int64 fields are written as
JSON numbers, enums by name (`RUNNING`, `ACTIVE_ONLY`), empty fields left out, `{}` for an empty
reply; a run carries its id twice (`run_id` and the older `run_uuid`), and requests may name it
either way. Requests are read leniently: an int64 may come as a string, unknown fields are
ignored (newer clients send more than this face reads).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from tandem.core.validation import wire_metric_value
from tandem.projects.models import Project
from tandem.server.compat.mlflow.errors import MlflowError
from tandem.tracking.models import LatestMetric, Run, RunStatus

# The Default experiment (MLflow's id "0") is the project named `default`.
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_PROJECT = "default"
DEFAULT_EXPERIMENT_NAME = "Default"
RUN_NAME_TAG = "mlflow.runName"
# Datasets a run read (log-inputs) are kept as tags under this prefix, and read back as inputs.
INPUT_TAG = "mlflow.input."


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(_Message):
    key: str
    value: str = ""


class MetricPoint(_Message):
    key: str
    value: float | str
    timestamp: int | None = None
    step: int | None = None


class RunRequest(_Message):
    run_id: str | None = None
    run_uuid: str | None = None

    def run(self) -> str:
        run_id = self.run_id or self.run_uuid
        if not run_id:
            raise MlflowError("Missing value for required parameter 'run_id'.")
        return run_id


class CreateExperiment(_Message):
    name: str = ""
    artifact_location: str | None = None
    tags: list[KeyValue] = []


class ExperimentRequest(_Message):
    experiment_id: str = ""


class SearchExperiments(_Message):
    max_results: int = 1000
    filter: str | None = None
    order_by: list[str] = []
    page_token: str | None = None
    view_type: str = "ACTIVE_ONLY"


class CreateRun(_Message):
    experiment_id: str = DEFAULT_EXPERIMENT_ID
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] = []


class UpdateRun(RunRequest):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogParam(RunRequest):
    key: str = ""
    value: str = ""


class LogMetric(RunRequest):
    key: str = ""
    value: float | str = 0.0
    timestamp: int | None = None
    step: int | None = None


class SetTag(RunRequest):
    key: str = ""
    value: str = ""


class DeleteTag(RunRequest):
    key: str = ""


class LogBatch(RunRequest):
    metrics: list[MetricPoint] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class DatasetInput(_Message):
    tags: list[KeyValue] = []
    dataset: dict[str, Any] = Field(default_factory=dict)


class LogInputs(RunRequest):
    datasets: list[DatasetInput] = []


class SearchRuns(_Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: str = "ACTIVE_ONLY"
    max_results: int = 1000
    order_by: list[str] = []
    page_token: str | None = None


class GetHistory(RunRequest):
    metric_key: str = ""
    page_token: str | None = None
    max_results: int | None = None


# -- reading requests ---------------------------------------------------------------------

M = TypeVar("M", bound=_Message)


async def read_body(request: Request, model: type[M]) -> M:
    """A POST's JSON body as `model` (an empty body is an empty message)."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise MlflowError(_describe(exc)) from None


def read_query(request: Request, model: type[M]) -> M:
    """A GET's query string as `model`: repeated keys make a list (`experiment_ids=1&...=2`)."""
    values: dict[str, Any] = {}
    for key in request.query_params:
        items = request.query_params.getlist(key)
        field = model.model_fields.get(key)
        is_list = field is not None and getattr(field.annotation, "__origin__", None) is list
        values[key] = items if is_list else items[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise MlflowError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"Invalid value for parameter '{where}': {first.get('msg')}" if where else str(exc)


def metric_value(key: str, value: float | str) -> float:
    """A metric value; proto-JSON writes NaN and the infinities as the strings "NaN",
    "Infinity". The tracking service stores them as MLflow does (ADR 33)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise MlflowError(f"Got invalid value {value!r} for metric {key!r}") from None
    return value


def experiment_id_number(experiment_id: str) -> int | None:
    """The project pk an experiment id names, None for the Default experiment."""
    if experiment_id == DEFAULT_EXPERIMENT_ID:
        return None
    if not experiment_id.isascii() or not experiment_id.isdigit() or len(experiment_id) > 18:
        raise MlflowError(
            f"No Experiment with id={experiment_id} exists", "RESOURCE_DOES_NOT_EXIST"
        )
    return int(experiment_id)


# -- writing replies ----------------------------------------------------------------------


def experiment_json(pk: int, project: Project) -> dict[str, Any]:
    is_default = project.name == DEFAULT_PROJECT
    experiment_id = DEFAULT_EXPERIMENT_ID if is_default else str(pk)
    answer: dict[str, Any] = {
        "experiment_id": experiment_id,
        "name": DEFAULT_EXPERIMENT_NAME if is_default else project.name,
        "artifact_location": f"mlflow-artifacts:/{experiment_id}",
        "lifecycle_stage": "deleted" if project.deleted_at is not None else "active",
        "last_update_time": project.deleted_at or project.created_at,
        "creation_time": project.created_at,
    }
    if project.description:
        answer["tags"] = [{"key": "mlflow.note.content", "value": project.description}]
    return answer


def experiment_id_of(pk: int, project_name: str) -> str:
    return DEFAULT_EXPERIMENT_ID if project_name == DEFAULT_PROJECT else str(pk)


_STATUS_OUT = {
    RunStatus.RUNNING: "RUNNING",
    RunStatus.FINISHED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.KILLED: "KILLED",
}
_STATUS_IN = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.RUNNING,  # tandem has no queue: a scheduled run is a running one
    "FINISHED": RunStatus.FINISHED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.KILLED,
}


def run_status(name: str) -> RunStatus:
    status = _STATUS_IN.get(name.upper())
    if status is None:
        raise MlflowError(f"Invalid value {name!r} for parameter 'status'")
    return status


def run_info_json(run: Run, experiment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_uuid": run.id,
        "experiment_id": experiment_id,
        "run_name": run.name,
        "user_id": run.user,
        "status": _STATUS_OUT[run.status],
        "start_time": run.start_time,
        "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run.id}/artifacts",
        "lifecycle_stage": "deleted" if run.deleted_at is not None else "active",
        "run_id": run.id,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run_json(run: Run, experiment_id: str, latest: Sequence[LatestMetric] = ()) -> dict[str, Any]:
    """A run as MLflow's REST writes it; `latest`: its latest metric points
    (`TrackingService.latest_metrics`), with their steps and timestamps."""
    data: dict[str, Any] = {}
    if latest:
        data["metrics"] = [
            {
                "key": p.key,
                "value": wire_metric_value(p.value),
                "timestamp": p.timestamp,
                "step": p.step,
            }
            for p in latest
        ]
    if run.params:
        data["params"] = [{"key": k, "value": v} for k, v in run.params.items()]
    tags = {k: v for k, v in run.tags.items() if not k.startswith(INPUT_TAG)}
    tags[RUN_NAME_TAG] = run.name
    data["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    inputs = [_dataset_input(v) for k, v in run.tags.items() if k.startswith(INPUT_TAG)]
    answer = {"info": run_info_json(run, experiment_id), "data": data, "inputs": {}}
    if inputs:
        answer["inputs"] = {"dataset_inputs": inputs}
    return answer


def _dataset_input(recorded: str) -> dict[str, Any]:
    """A dataset input as log-inputs recorded it (`tracking.MlflowTracking.log_inputs`)."""
    try:
        record = json.loads(recorded)
    except ValueError:
        record = {}
    dataset = {k: str(record.get(k, "")) for k in ("name", "digest", "source_type")}
    dataset["source"] = ""
    answer: dict[str, Any] = {"dataset": dataset}
    if record.get("context"):
        answer["tags"] = [{"key": "mlflow.data.context", "value": str(record["context"])}]
    return answer
