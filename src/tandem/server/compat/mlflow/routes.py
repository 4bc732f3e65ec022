"""The routes of MLflow's REST API that tandem answers, under `/api/2.0/mlflow/` (the
`mlflow` client) and `/ajax-api/2.0/mlflow/` (MLflow's web app). Each parses MLflow's request,
asks `MlflowTracking` with the caller (the same `Principal` the REST API resolves from
`Authorization: Bearer <token>`, closed by default) and writes proto-JSON. Errors are rendered
in MLflow's format by the app's handlers (`tandem.server.errors`), for every path under these
prefixes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.http.deps import get_principal, lookup, offload
from tandem.http.policy import PUBLIC, SIGNED_IN, policy
from tandem.projects.service import ProjectService
from tandem.server.compat.mlflow import wire
from tandem.server.compat.mlflow.tracking import MlflowTracking
from tandem.tracking.service import TrackingService

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

router = APIRouter()
Handler = Callable[[MlflowTracking, Principal, Any], dict[str, Any]]


def _reply(answer: dict[str, Any]) -> Response:
    return Response(json.dumps(answer, allow_nan=False), media_type="application/json")


def _tracking(request: Request) -> MlflowTracking:
    return MlflowTracking(lookup(request, ProjectService), lookup(request, TrackingService))


async def _call(request: Request, handler: Handler, principal: Principal, message: Any) -> Response:
    """The handler's reply. On SQLite a small call runs in the event loop, as tandem's own
    logging routes do (ADR 18): every write takes the one write lock anyway, and the hop to a
    worker thread and back is most of a small request. Searches, and PostgreSQL, go to a thread."""
    tracking = _tracking(request)
    if tracking.tracking.db.is_sqlite and handler not in _LARGE:
        return _reply(handler(tracking, principal, message))
    return _reply(await offload(handler, tracking, principal, message))


def _post(path: str, model: type[wire.M], handler: Handler, rule: Action | str) -> None:
    async def endpoint(request: Request) -> Response:
        principal = await get_principal(request)
        body = await wire.read_body(request, model)
        return await _call(request, handler, principal, body)

    endpoint.__name__ = "mlflow_" + path.replace("/", "_").replace("-", "_")
    router.add_api_route(
        path, endpoint, methods=["POST"], include_in_schema=False, openapi_extra=policy(rule)
    )


def _get(path: str, model: type[wire.M], handler: Handler, rule: Action | str) -> None:
    async def endpoint(request: Request) -> Response:
        principal = await get_principal(request)
        query = wire.read_query(request, model)
        return await _call(request, handler, principal, query)

    endpoint.__name__ = "mlflow_get_" + path.replace("/", "_").replace("-", "_")
    router.add_api_route(
        path, endpoint, methods=["GET"], include_in_schema=False, openapi_extra=policy(rule)
    )


T = MlflowTracking
# calls whose work grows with the data: always in a worker thread
_LARGE: set[Any] = {T.search_runs, T.search_experiments, T.metric_history}

# experiments
_post("/experiments/create", wire.CreateExperiment, T.create_experiment, Action.PROJECT_CREATE)
_get("/experiments/get", wire.ExperimentRequest, T.get_experiment, Action.PROJECT_READ)
_post("/experiments/search", wire.SearchExperiments, T.search_experiments, SIGNED_IN)
_get("/experiments/search", wire.SearchExperiments, T.search_experiments, SIGNED_IN)
_post("/experiments/delete", wire.ExperimentRequest, T.delete_experiment, Action.PROJECT_DELETE)
_post("/experiments/restore", wire.ExperimentRequest, T.restore_experiment, Action.PROJECT_DELETE)


class _ByName(wire.ExperimentRequest):
    experiment_name: str = ""


def _by_name(tracking: MlflowTracking, principal: Principal, query: _ByName) -> dict[str, Any]:
    return tracking.get_experiment_by_name(principal, query.experiment_name)


_get("/experiments/get-by-name", _ByName, _by_name, Action.PROJECT_READ)

# runs
_post("/runs/create", wire.CreateRun, T.create_run, Action.RUN_WRITE)
_get("/runs/get", wire.RunRequest, T.get_run, Action.RUN_READ)
_post("/runs/update", wire.UpdateRun, T.update_run, Action.RUN_WRITE)
_post("/runs/delete", wire.RunRequest, T.delete_run, Action.RUN_DELETE)
_post("/runs/restore", wire.RunRequest, T.restore_run, Action.RUN_DELETE)
_post("/runs/log-parameter", wire.LogParam, T.log_param, Action.RUN_WRITE)
_post("/runs/log-metric", wire.LogMetric, T.log_metric, Action.RUN_WRITE)
_post("/runs/set-tag", wire.SetTag, T.set_tag, Action.RUN_WRITE)
_post("/runs/delete-tag", wire.DeleteTag, T.delete_tag, Action.RUN_WRITE)
_post("/runs/log-batch", wire.LogBatch, T.log_batch, Action.RUN_WRITE)
_post("/runs/log-inputs", wire.LogInputs, T.log_inputs, Action.RUN_WRITE)
_post("/runs/search", wire.SearchRuns, T.search_runs, Action.RUN_READ)
_get("/metrics/get-history", wire.GetHistory, T.metric_history, Action.RUN_READ)


version_router = APIRouter()


@version_router.get("/version", include_in_schema=False, openapi_extra=policy(PUBLIC))
async def mlflow_version() -> Response:
    """What `mlflow server` answers at /version: the MLflow release this face speaks (the
    client reads it to choose its calls); tandem's own version is at /api/v1/health."""
    return Response(MLFLOW_VERSION, media_type="text/plain")


# The newest MLflow whose tracking calls this face was checked against (tests/compat).
MLFLOW_VERSION = "3.18.0"
