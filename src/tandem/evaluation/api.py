"""REST endpoints for evaluations: record a report, read them back, delete one (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from tandem.core.auth import Action
from tandem.evaluation.models import Evaluation, EvaluationCreate
from tandem.evaluation.service import EvaluationService
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy

router = APIRouter(tags=["evaluations"])

EvaluationsDep = Annotated[EvaluationService, service(EvaluationService)]


@router.post(
    "/projects/{project}/evaluations", status_code=201, openapi_extra=policy(Action.MODEL_WRITE)
)
async def record_evaluation(
    project: str, body: EvaluationCreate, evaluations: EvaluationsDep, principal: PrincipalDep
) -> Evaluation:
    """Record a report (computed by the SDK, which can load the model) against the model
    version and dataset version it measured."""
    return await offload(evaluations.record, principal, project, body)


@router.get(
    "/projects/{project}/evaluations/{evaluation_id}", openapi_extra=policy(Action.MODEL_READ)
)
async def get_evaluation(
    project: str, evaluation_id: str, evaluations: EvaluationsDep, principal: PrincipalDep
) -> Evaluation:
    return await offload(evaluations.get, principal, project, evaluation_id)


@router.delete(
    "/projects/{project}/evaluations/{evaluation_id}",
    status_code=204,
    openapi_extra=policy(Action.PROJECT_WRITE),
)
async def delete_evaluation(
    project: str, evaluation_id: str, evaluations: EvaluationsDep, principal: PrincipalDep
) -> Response:
    """Delete an evaluation (project and workspace admins only; audited)."""
    await offload(evaluations.delete, principal, project, evaluation_id)
    return Response(status_code=204)


@router.get(
    "/projects/{project}/models/{name}/evaluations", openapi_extra=policy(Action.MODEL_READ)
)
async def list_evaluations(
    project: str, name: str, evaluations: EvaluationsDep, principal: PrincipalDep,
    version: str | None = None,
) -> list[Evaluation]:  # fmt: skip
    """The model's evaluations (of one version: `?version=3` or an alias), newest first."""
    ref = f"{name}@{version}" if version else name
    return await offload(evaluations.list_for_model, principal, project, ref)
