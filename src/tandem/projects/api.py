"""REST endpoints for projects: parse, call the service, return the model."""

from __future__ import annotations

from fastapi import APIRouter, Query

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.projects.models import Project, ProjectCreate
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import SIGNED_IN, policy

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, openapi_extra=policy(Action.PROJECT_CREATE))
async def create_project(
    body: ProjectCreate, services: ServicesDep, principal: PrincipalDep
) -> Project:
    return await offload(services.projects.create, principal, body)


@router.get("", openapi_extra=policy(SIGNED_IN))
async def list_projects(
    services: ServicesDep,
    principal: PrincipalDep,
    include_deleted: bool = False,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> Page[Project]:
    return await offload(
        services.projects.list,
        principal,
        include_deleted=include_deleted,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{name}", openapi_extra=policy(Action.PROJECT_READ))
async def get_project(name: str, services: ServicesDep, principal: PrincipalDep) -> Project:
    return await offload(services.projects.get, principal, name)


@router.delete("/{name}", openapi_extra=policy(Action.PROJECT_DELETE))
async def delete_project(name: str, services: ServicesDep, principal: PrincipalDep) -> Project:
    return await offload(services.projects.delete, principal, name)


@router.post("/{name}/restore", openapi_extra=policy(Action.PROJECT_DELETE))
async def restore_project(name: str, services: ServicesDep, principal: PrincipalDep) -> Project:
    return await offload(services.projects.restore, principal, name)
