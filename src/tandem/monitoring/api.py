"""REST endpoints for monitors: create, list (with each one's newest result), read, change,
delete, their window results, and one evaluation now. Parse, call the service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tandem.core.auth import Action
from tandem.core.validation import Int64
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy
from tandem.monitoring.models import (
    CheckSummary,
    Monitor,
    MonitorResult,
    MonitorSpec,
    MonitorStatus,
    MonitorUpdate,
)
from tandem.monitoring.service import MonitoringService

router = APIRouter(tags=["monitoring"])

MonitoringDep = Annotated[MonitoringService, service(MonitoringService)]

MONITORS = "/projects/{project}/monitors"
MONITOR = MONITORS + "/{name}"
WRITE = policy(Action.MONITOR_WRITE)
READ = policy(Action.MONITOR_READ)


@router.post(MONITORS, status_code=201, openapi_extra=WRITE)
async def create_monitor(
    project: str, body: MonitorSpec, monitoring: MonitoringDep, principal: PrincipalDep
) -> Monitor:
    return await offload(monitoring.create, principal, project, body)


@router.get(MONITORS, openapi_extra=READ)
async def list_monitors(
    project: str, monitoring: MonitoringDep, principal: PrincipalDep,
    endpoint: Annotated[str | None, Query(description="only this endpoint's monitors")] = None,
) -> list[MonitorStatus]:  # fmt: skip
    """Each monitor with its newest window's result."""
    return await offload(monitoring.statuses, principal, project, endpoint=endpoint)


@router.post(MONITORS + "/check", openapi_extra=WRITE)
async def check_monitors(
    project: str, monitoring: MonitoringDep, principal: PrincipalDep,
    monitor: Annotated[str | None, Query(description="only this monitor")] = None,
    now: Annotated[Int64 | None, Query(description="evaluate as of this time, ms")] = None,
) -> CheckSummary:  # fmt: skip
    """Evaluate every closed window with no result yet (for cron or CI)."""
    return await offload(monitoring.check, principal, project, monitor, now)


@router.get(MONITOR, openapi_extra=READ)
async def get_monitor(
    project: str, name: str, monitoring: MonitoringDep, principal: PrincipalDep
) -> Monitor:
    return await offload(monitoring.get, principal, project, name)


@router.patch(MONITOR, openapi_extra=WRITE)
async def update_monitor(
    project: str, name: str, body: MonitorUpdate, monitoring: MonitoringDep,
    principal: PrincipalDep,
) -> Monitor:  # fmt: skip
    return await offload(monitoring.update, principal, project, name, body)


@router.delete(MONITOR, status_code=204, openapi_extra=WRITE)
async def delete_monitor(
    project: str, name: str, monitoring: MonitoringDep, principal: PrincipalDep
) -> Response:
    await offload(monitoring.delete, principal, project, name)
    return Response(status_code=204)


@router.get(MONITOR + "/results", openapi_extra=READ)
async def monitor_results(
    project: str, name: str, monitoring: MonitoringDep, principal: PrincipalDep,
    since: Annotated[Int64 | None, Query(description="windows starting at or after, ms")] = None,
    until: Annotated[Int64 | None, Query(description="windows starting before, ms")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[MonitorResult]:  # fmt: skip
    """The monitor's window results, newest first."""
    return await offload(
        monitoring.results, principal, project, name, since=since, until=until, limit=limit
    )
