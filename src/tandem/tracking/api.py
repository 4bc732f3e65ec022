"""REST endpoints for runs, metrics and artifacts: parse, call the service, return the model."""

from __future__ import annotations

from asyncio import wrap_future
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from tandem.core.auth import Action, Principal
from tandem.core.paging import Page
from tandem.core.refs import RunRef
from tandem.http.deps import (
    UPLOAD_BODY,
    PrincipalDep,
    blob_download,
    get_principal,
    hot_route,
    json_body,
    lookup,
    model_response,
    offload,
    served,
    service,
    spooled_upload,
)
from tandem.http.policy import policy
from tandem.tracking.models import (
    Artifact,
    BatchResult,
    MetricHistory,
    Run,
    RunBatch,
    RunComparison,
    RunCreate,
    RunSearch,
    RunUpdate,
)
from tandem.tracking.serialise import page_json
from tandem.tracking.service import TrackingService

router = APIRouter(tags=["runs"])

TrackingDep = Annotated[TrackingService, service(TrackingService)]


async def run_reference(
    run_id: str,
    project: Annotated[str | None, Query(description="the project the run must belong to")] = None,
) -> str:
    """A run id or unique prefix, qualified by `?project=` when the caller named one."""
    return str(RunRef(project, run_id))


RunRefDep = Annotated[str, Depends(run_reference)]

# The logging hot path is the first route: routes are matched in the order they are declared.
# On SQLite every write takes the one write lock anyway, so a small batch is cheaper applied in
# the event loop than handed to a worker thread and back: the hop is most of a small request.
# On PostgreSQL small batches of concurrent requests share transactions (group commit, ADR 17).
SMALL_BATCH_POINTS = 1_000


def _points(batch: RunBatch | None) -> int:
    return len(batch.metrics) if batch is not None and batch.metrics is not None else 0


@hot_route(
    router,
    "POST",
    "/runs/{run_id}/batch",
    response_model=BatchResult,
    body=RunBatch,
    openapi_extra=policy(Action.RUN_WRITE),
)
async def log_batch(
    run_id: str,
    request: Request,
    project: Annotated[str | None, Query(description="the project the run must belong to")] = None,
) -> Response:
    # The hot path (ADR 18): served ahead of FastAPI's routing, and services, caller and body
    # read here rather than as FastAPI dependencies; the rules are the same (get_principal).
    tracking = lookup(request, TrackingService)
    principal = await get_principal(request)
    body = await json_body(request, RunBatch)
    run_id = str(RunRef(project, run_id))
    if _points(body) > SMALL_BATCH_POINTS:
        result = await offload(tracking.log_batch, principal, run_id, body)
    elif served():  # concurrent small requests share a transaction, on either database (ADR 17)
        result = await wrap_future(tracking.submit_batch(principal, run_id, body))
    else:  # an embedded request: inline
        result = tracking.log_batch(principal, run_id, body)
    return model_response(result)


@hot_route(
    router,
    "POST",
    "/projects/{project}/runs",
    status_code=201,
    response_model=Run,
    body=RunCreate,
    openapi_extra=policy(Action.RUN_WRITE),
)
async def create_run(project: str, request: Request) -> Response:
    # A hot path too (every run starts here, and a short run from the SDK is created with its
    # batch and end, ADR 19): read like log_batch's, and inline on the same terms.
    tracking = lookup(request, TrackingService)
    principal = await get_principal(request)
    body = await json_body(request, RunCreate)
    # A served request that checks blobs (S3, perhaps) or waits on PostgreSQL goes to a thread.
    slow = body.link_artifacts or not tracking.db.is_sqlite
    if _points(body.batch) > SMALL_BATCH_POINTS or (slow and served()):
        run = await offload(tracking.create_run, principal, project, body)
    else:
        run = tracking.create_run(principal, project, body)
    return model_response(run, status_code=201)


@hot_route(
    router,
    "POST",
    "/runs/search",
    response_model=Page[Run],
    body=RunSearch,
    openapi_extra=policy(Action.RUN_READ),
)
async def search_runs(request: Request) -> Response:
    # A hot path for dashboards and scripts: read like log_batch's.
    tracking = lookup(request, TrackingService)
    principal = await get_principal(request)
    body = await json_body(request, RunSearch)
    content = await offload(_search_json, tracking, principal, body)
    return Response(content, media_type="application/json")


def _search_json(tracking: TrackingService, principal: Principal, search: RunSearch) -> bytes:
    """The page's JSON, written from the rows in the worker thread that read them."""
    return page_json(*tracking.search_run_rows(principal, search))


@router.get("/runs/compare", openapi_extra=policy(Action.RUN_READ))
async def compare_runs(
    tracking: TrackingDep,
    principal: PrincipalDep,
    ids: Annotated[list[str], Query(description="two or more run ids")],
) -> RunComparison:
    return await offload(tracking.compare_runs, principal, ids)


@router.get("/runs/{run_id}", openapi_extra=policy(Action.RUN_READ))
async def get_run(run_id: RunRefDep, tracking: TrackingDep, principal: PrincipalDep) -> Run:
    return await offload(tracking.get_run, principal, run_id)


@router.patch("/runs/{run_id}", openapi_extra=policy(Action.RUN_WRITE))
async def update_run(
    run_id: RunRefDep, body: RunUpdate, tracking: TrackingDep, principal: PrincipalDep
) -> Run:
    return await offload(tracking.update_run, principal, run_id, body)


@router.delete("/runs/{run_id}", openapi_extra=policy(Action.RUN_DELETE))
async def delete_run(run_id: RunRefDep, tracking: TrackingDep, principal: PrincipalDep) -> Run:
    return await offload(tracking.delete_run, principal, run_id)


@router.post("/runs/{run_id}/restore", openapi_extra=policy(Action.RUN_DELETE))
async def restore_run(run_id: RunRefDep, tracking: TrackingDep, principal: PrincipalDep) -> Run:
    return await offload(tracking.restore_run, principal, run_id)


@router.delete("/runs/{run_id}/tags/{key}", status_code=204, openapi_extra=policy(Action.RUN_WRITE))
async def delete_tag(
    run_id: RunRefDep, key: str, tracking: TrackingDep, principal: PrincipalDep
) -> None:
    await offload(tracking.delete_tag, principal, run_id, key)


@router.get(
    "/runs/{run_id}/metrics/{key:path}",
    response_model=MetricHistory,
    openapi_extra=policy(Action.RUN_READ),
)
async def metric_history(
    run_id: RunRefDep, key: str, tracking: TrackingDep, principal: PrincipalDep
) -> Response:
    return model_response(await offload(tracking.metric_history, principal, run_id, key))


@router.get("/runs/{run_id}/artifacts", openapi_extra=policy(Action.RUN_READ))
async def list_artifacts(
    run_id: RunRefDep, tracking: TrackingDep, principal: PrincipalDep, prefix: str = ""
) -> list[Artifact]:
    return await offload(tracking.list_artifacts, principal, run_id, prefix)


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    status_code=201,
    openapi_extra=policy(Action.RUN_WRITE) | UPLOAD_BODY,
)
async def upload_artifact(
    run_id: RunRefDep, path: str, request: Request, tracking: TrackingDep, principal: PrincipalDep
) -> Artifact:
    """Upload the request body as artifact `path`; it is streamed to a temporary file inside
    the workspace, hashed, and stored by content."""
    # Refuse before reading a byte: nobody may fill the server's disk without write access.
    await offload(tracking.check_writable, principal, run_id)
    async with spooled_upload(request) as source:
        return await offload(tracking.upload_artifact, principal, run_id, path, source)


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    openapi_extra=policy(Action.ARTIFACT_READ),
)
async def download_artifact(
    run_id: RunRefDep, path: str, tracking: TrackingDep, principal: PrincipalDep
) -> StreamingResponse:
    artifact, chunks = await offload(tracking.open_artifact, principal, run_id, path)
    return blob_download(artifact.path, artifact.oid, artifact.size, chunks)
