"""REST endpoints of outcomes: label files in, realised and estimated performance and KPIs out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from tandem.core.auth import Action
from tandem.core.validation import MAX_INT, NonNegativeInt
from tandem.errors import PayloadTooLarge, UnsupportedMediaType
from tandem.http.deps import PrincipalDep, model_response, offload, service
from tandem.http.policy import policy
from tandem.outcomes.models import (
    ARROW_STREAM,
    LABEL_COLUMNS,
    MAX_LABEL_BYTES,
    PARQUET,
    Estimate,
    Kpi,
    KpiCreate,
    LabelBatch,
    LabelReceipt,
    WindowMetrics,
)
from tandem.outcomes.service import OutcomeService

router = APIRouter(tags=["outcomes"])

OutcomesDep = Annotated[OutcomeService, service(OutcomeService)]
ENDPOINT = "/projects/{project}/endpoints/{endpoint}"
Since = Annotated[NonNegativeInt | None, Query(description="ms since the epoch")]
Until = Annotated[NonNegativeInt | None, Query(description="ms since the epoch, excluded")]
Version = Annotated[str | None, Query(description="one model version, NAME@N")]

_LABEL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "labels as Parquet or an Arrow IPC stream with the columns "
        + ", ".join(f"{name} ({kind})" for name, kind in LABEL_COLUMNS.items()),
        "content": {
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _label_body(request: Request) -> tuple[bytes, str]:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in (PARQUET, ARROW_STREAM):
        raise UnsupportedMediaType(
            f"send the labels as Parquet ({PARQUET}) or an Arrow IPC stream ({ARROW_STREAM}), "
            f"not {media or 'no content type'}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_LABEL_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_LABEL_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks), media


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a label file is at most {MAX_LABEL_BYTES} bytes: send it in parts",
        limit=MAX_LABEL_BYTES,
    )


@router.post(
    ENDPOINT + "/labels",
    status_code=201,
    response_model=LabelReceipt,
    openapi_extra=policy(Action.MONITOR_WRITE) | _LABEL_BODY,
)
async def add_labels(
    project: str,
    endpoint: str,
    request: Request,
    outcomes: OutcomesDep,
    principal: PrincipalDep,
    slice_: Annotated[
        list[str] | None,
        Query(alias="slice", description="an input column to report fairness across"),
    ] = None,
    lookback: Annotated[
        int | None,
        Query(ge=1, le=MAX_INT, description="ms before a label's time its prediction may be"),
    ] = None,
) -> Response:
    """Join a file of labels to the prediction log by request id and recompute the windows
    they fall in (201); unknown request ids are counted in the answer."""
    await offload(outcomes.check_labeller, principal, project, endpoint)
    body, media = await _label_body(request)
    extra: dict[str, Any] = {} if lookback is None else {"lookback_ms": lookback}
    receipt = await offload(
        outcomes.add_labels, principal, project, endpoint, body, media_type=media,
        slices=slice_ or [], **extra,
    )  # fmt: skip
    return model_response(receipt, 201)


@router.get(ENDPOINT + "/labels", openapi_extra=policy(Action.MONITOR_READ))
async def list_label_batches(
    project: str,
    endpoint: str,
    outcomes: OutcomesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[LabelBatch]:
    """The endpoint's label batches, newest first."""
    return await offload(outcomes.label_batches, principal, project, endpoint, limit=limit)


@router.get(ENDPOINT + "/performance", openapi_extra=policy(Action.MONITOR_READ))
async def window_metrics(
    project: str,
    endpoint: str,
    outcomes: OutcomesDep,
    principal: PrincipalDep,
    since: Since = None,
    until: Until = None,
    version: Version = None,
) -> list[WindowMetrics]:
    """Realised figures per model version and hourly window."""
    return await offload(
        outcomes.window_metrics, principal, project, endpoint, since=since, until=until,
        version=version,
    )  # fmt: skip


@router.get(ENDPOINT + "/estimates", openapi_extra=policy(Action.MONITOR_READ))
async def estimates(
    project: str,
    endpoint: str,
    outcomes: OutcomesDep,
    principal: PrincipalDep,
    since: Annotated[NonNegativeInt, Query(description="ms since the epoch")],
    until: Annotated[NonNegativeInt, Query(description="ms since the epoch, excluded")],
    version: Version = None,
) -> list[Estimate]:
    """ROC AUC and accuracy per version and hour: CBPE estimates, or the realised figure."""
    return await offload(
        outcomes.estimates, principal, project, endpoint, since=since, until=until,
        version=version,
    )  # fmt: skip


@router.post(ENDPOINT + "/kpis", status_code=201, openapi_extra=policy(Action.MONITOR_WRITE))
async def push_kpi(
    project: str, endpoint: str, body: KpiCreate, outcomes: OutcomesDep, principal: PrincipalDep
) -> Kpi:
    """Record a business KPI for the endpoint (and a model version, which must exist)."""
    return await offload(outcomes.push_kpi, principal, project, endpoint, body)


@router.get(ENDPOINT + "/kpis", openapi_extra=policy(Action.MONITOR_READ))
async def list_kpis(
    project: str,
    endpoint: str,
    outcomes: OutcomesDep,
    principal: PrincipalDep,
    name: Annotated[str | None, Query(description="one KPI")] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[Kpi]:
    """The endpoint's KPIs at times in [since, until), oldest first."""
    return await offload(
        outcomes.kpis, principal, project, endpoint, name=name, since=since, until=until,
        limit=limit,
    )  # fmt: skip
