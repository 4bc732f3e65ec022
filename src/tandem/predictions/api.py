"""REST endpoints of the prediction log: gateways ship batches, people and monitoring read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from tandem.core.auth import Action
from tandem.core.paging import MAX_LIMIT
from tandem.core.validation import NonNegativeInt
from tandem.errors import PayloadTooLarge, UnsupportedMediaType
from tandem.http.deps import PrincipalDep, blob_download, model_response, offload, service
from tandem.http.policy import policy
from tandem.predictions.models import (
    ARROW_STREAM,
    BATCH_COLUMNS,
    MAX_BATCH_BYTES,
    PARQUET,
    BatchAck,
    Prediction,
    Segment,
)
from tandem.predictions.service import PredictionService

router = APIRouter(tags=["predictions"])

PredictionsDep = Annotated[PredictionService, service(PredictionService)]
ENDPOINT = "/projects/{project}/endpoints/{endpoint}"

_ARROW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "an Arrow IPC stream with the columns " + ", ".join(BATCH_COLUMNS),
        "content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _batch_body(request: Request) -> bytes:
    """The body, if it is declared an Arrow stream (415) and within `MAX_BATCH_BYTES` (413,
    refused before it is read when its length is declared)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != ARROW_STREAM:
        raise UnsupportedMediaType(
            f"send the batch as an Arrow IPC stream: Content-Type: {ARROW_STREAM} "
            f"(not {media or 'none'})"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a batch is at most {MAX_BATCH_BYTES} bytes: ship fewer predictions at a time",
        limit=MAX_BATCH_BYTES,
    )


@router.post(
    ENDPOINT + "/predictions",
    status_code=201,
    response_model=BatchAck,
    responses={200: {"model": BatchAck, "description": "stored before: a retry"}},
    openapi_extra=policy(Action.DEPLOYMENT_WRITE) | _ARROW_BODY,
)
async def ship_predictions(
    project: str,
    endpoint: str,
    request: Request,
    predictions: PredictionsDep,
    principal: PrincipalDep,
    gateway: Annotated[str, Query(description="the gateway that served them")],
    batch: Annotated[str, Query(description="the batch's id: a retry sends the same")],
) -> Response:
    """Store a batch of logged predictions as one segment (201); a batch stored before
    answers 200 with `duplicate` and stores nothing."""
    # refused before a byte of the body is read: nobody without the right sends 64 MB
    await offload(predictions.check_shipper, principal, project, endpoint)
    body = await _batch_body(request)
    ack = await offload(
        predictions.ship, principal, project, endpoint, gateway=gateway, batch=batch, body=body
    )
    return model_response(ack, 200 if ack.duplicate else 201)


@router.get(ENDPOINT + "/predictions/{request_id}", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def get_prediction(
    project: str, endpoint: str, request_id: str, predictions: PredictionsDep,
    principal: PrincipalDep,
) -> Prediction:  # fmt: skip
    """Which version answered request `request_id`, with what, when, and how fast."""
    return await offload(predictions.get, principal, project, endpoint, request_id)


@router.get(ENDPOINT + "/segments", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def list_segments(
    project: str,
    endpoint: str,
    predictions: PredictionsDep,
    principal: PrincipalDep,
    since: Annotated[NonNegativeInt | None, Query(description="ms since the epoch")] = None,
    until: Annotated[
        NonNegativeInt | None, Query(description="ms since the epoch, excluded")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
) -> list[Segment]:
    """The endpoint's segments with predictions made in [since, until), in the order of their
    last prediction."""
    return await offload(
        predictions.list_segments, principal, project, endpoint, since=since, until=until,
        limit=limit,
    )  # fmt: skip


@router.get(
    ENDPOINT + "/segments/{segment}/data",
    response_class=StreamingResponse,
    responses={200: {"content": {PARQUET: {}}}},
    openapi_extra=policy(Action.DEPLOYMENT_READ),
)
async def download_segment(
    project: str, endpoint: str, segment: str, predictions: PredictionsDep,
    principal: PrincipalDep,
) -> Response:  # fmt: skip
    """A segment's Parquet file."""
    found, chunks = await offload(predictions.open_segment, principal, project, endpoint, segment)
    response = blob_download(f"{found.id}.parquet", found.oid, found.size, chunks)
    response.media_type = PARQUET
    response.headers["content-type"] = PARQUET
    return response
