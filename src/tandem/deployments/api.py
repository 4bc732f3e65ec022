"""REST endpoints for deployments: endpoints, releases, traffic changes, the policy gateways
poll, the figures they report, the history. Parse, call the service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.core.validation import Int64, NonNegativeInt
from tandem.deployments.models import (
    Analysis,
    DeploymentEvent,
    DeployRequest,
    Endpoint,
    EndpointCreate,
    EndpointUpdate,
    ReportAck,
    ServedAt,
    Serving,
    StatsReport,
    TrafficChange,
    WindowPoint,
)
from tandem.deployments.service import DeploymentService
from tandem.errors import InvalidInput
from tandem.http.deps import PrincipalDep, model_response, offload, service
from tandem.http.policy import policy

router = APIRouter(tags=["deployments"])

DeploymentsDep = Annotated[DeploymentService, service(DeploymentService)]

ENDPOINTS = "/projects/{project}/endpoints"
ENDPOINT = ENDPOINTS + "/{endpoint}"
Cursor = Annotated[str | None, Query(description="from the previous page's next_cursor")]
Limit = Annotated[int, Query(ge=1, le=1000)]
# A change of a production endpoint's traffic needs deployment:release (the service checks).
CHANGE = policy(Action.DEPLOYMENT_WRITE)


@router.post(ENDPOINTS, status_code=201, openapi_extra=CHANGE)
async def create_endpoint(
    project: str, body: EndpointCreate, deployments: DeploymentsDep, principal: PrincipalDep
) -> Endpoint:
    """A production endpoint needs deployment:release."""
    return await offload(deployments.create_endpoint, principal, project, body)


@router.get(ENDPOINTS, openapi_extra=policy(Action.DEPLOYMENT_READ))
async def list_endpoints(
    project: str, deployments: DeploymentsDep, principal: PrincipalDep
) -> list[Endpoint]:
    return await offload(deployments.list_endpoints, principal, project)


@router.get(ENDPOINT, openapi_extra=policy(Action.DEPLOYMENT_READ))
async def get_endpoint(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep
) -> Endpoint:
    return await offload(deployments.get_endpoint, principal, project, endpoint)


@router.patch(ENDPOINT, openapi_extra=CHANGE)
async def update_endpoint(
    project: str, endpoint: str, body: EndpointUpdate, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    return await offload(deployments.update_endpoint, principal, project, endpoint, body)


@router.delete(ENDPOINT, status_code=204, openapi_extra=CHANGE)
async def delete_endpoint(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep
) -> Response:
    """Refused (409) while gateways report traffic for it."""
    await offload(deployments.delete_endpoint, principal, project, endpoint)
    return Response(status_code=204)


@router.post(ENDPOINT + "/deploy", openapi_extra=CHANGE)
async def deploy(
    project: str, endpoint: str, body: DeployRequest, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    """Release a version: replace, canary, blue-green or shadow. A production endpoint takes
    only a version that passed its gate (409 naming the gate otherwise)."""
    return await offload(deployments.deploy, principal, project, endpoint, body)


@router.post(ENDPOINT + "/promote", openapi_extra=CHANGE)
async def promote(
    project: str, endpoint: str, body: TrafficChange, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    return await offload(deployments.promote, principal, project, endpoint, body)


@router.post(ENDPOINT + "/pause", openapi_extra=CHANGE)
async def pause(
    project: str, endpoint: str, body: TrafficChange, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    return await offload(deployments.pause, principal, project, endpoint, body)


@router.post(ENDPOINT + "/resume", openapi_extra=CHANGE)
async def resume(
    project: str, endpoint: str, body: TrafficChange, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    return await offload(deployments.resume, principal, project, endpoint, body)


@router.post(ENDPOINT + "/rollback", openapi_extra=CHANGE)
async def rollback(
    project: str, endpoint: str, body: TrafficChange, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> Endpoint:  # fmt: skip
    return await offload(deployments.rollback, principal, project, endpoint, body)


@router.post(ENDPOINT + "/analyse", openapi_extra=policy(Action.DEPLOYMENT_WRITE))
async def analyse(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep
) -> Analysis | None:
    """Run the controller now; null when no rollout is under way."""
    return await offload(deployments.analyse, principal, project, endpoint)


def _etag(value: str | None) -> int | None:
    """The policy version an `If-None-Match` names (`"7"`, `W/"7"`), or None."""
    if not value:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() and len(text) < 19 else None


@router.get(
    ENDPOINT + "/policy",
    openapi_extra=policy(Action.DEPLOYMENT_READ),
    responses={304: {"description": "the policy is still the version If-None-Match names"}},
)
async def get_policy(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:  # fmt: skip
    """What the endpoint's gateways serve, with `ETag: "<policy_version>"`; send it back in
    `If-None-Match` to get 304 while it has not changed (gateways poll every second)."""
    known = _etag(if_none_match)
    found = await offload(deployments.policy, principal, project, endpoint, known=known)
    if found is None:
        return Response(status_code=304, headers={"ETag": f'"{known}"'})
    response = model_response(found)
    response.headers["ETag"] = f'"{found.policy_version}"'
    return response


@router.post(ENDPOINT + "/stats", openapi_extra=policy(Action.DEPLOYMENT_WRITE))
async def report_stats(
    project: str, endpoint: str, body: StatsReport, deployments: DeploymentsDep,
    principal: PrincipalDep,
) -> ReportAck:  # fmt: skip
    """A gateway's figures per deployment and window, and the models it could not load; the
    controller runs on each report. Refetch the policy when the answer's version differs."""
    return await offload(deployments.report, principal, project, endpoint, body)


@router.get(ENDPOINT + "/history", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def history(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[DeploymentEvent]:  # fmt: skip
    """Every traffic change, newest first."""
    return await offload(
        deployments.history, principal, project, endpoint, limit=limit, cursor=cursor
    )


@router.get(ENDPOINT + "/served-at", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def served_at(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep,
    at: Annotated[str, Query(description="ISO-8601 (UTC unless it says) or ms since the epoch")],
) -> ServedAt:  # fmt: skip
    """What served the endpoint at `at`, who put it there and why."""
    return await offload(deployments.served_at, principal, project, endpoint, at)


@router.get(ENDPOINT + "/windows", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def windows(
    project: str, endpoint: str, deployments: DeploymentsDep, principal: PrincipalDep,
    since: Int64 | None = None, until: Int64 | None = None,
    bucket_s: Annotated[int, Query(ge=1, le=86_400)] = 10,
) -> list[WindowPoint]:  # fmt: skip
    """Each deployment's requests, errors and latency per time bucket (ms since the epoch;
    default: the last hour)."""
    return await offload(
        deployments.windows, principal, project, endpoint, since=since, until=until,
        bucket_s=bucket_s,
    )  # fmt: skip


@router.get("/projects/{project}/serving", openapi_extra=policy(Action.DEPLOYMENT_READ))
async def serving(
    project: str, deployments: DeploymentsDep, principal: PrincipalDep,
    model: str | None = None, version: NonNegativeInt | None = None,
) -> list[Serving]:  # fmt: skip
    """Where model versions serve in the project."""
    if version is not None and model is None:
        raise InvalidInput("version needs model: ?model=NAME&version=N")
    return await offload(deployments.serving, principal, project, model=model, version=version)
