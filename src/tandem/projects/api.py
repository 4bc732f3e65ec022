"""REST endpoints for projects: parse, call the service, return the model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import SIGNED_IN, policy
from tandem.projects.models import Project, ProjectCreate
from tandem.projects.service import ProjectService

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectsDep = Annotated[ProjectService, service(ProjectService)]


@router.post("", status_code=201, openapi_extra=policy(Action.PROJECT_CREATE))
async def create_project(
    body: ProjectCreate, projects: ProjectsDep, principal: PrincipalDep
) -> Project:
    return await offload(projects.create, principal, body)


@router.get("", openapi_extra=policy(SIGNED_IN))
async def list_projects(
    projects: ProjectsDep,
    principal: PrincipalDep,
    include_deleted: bool = False,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> Page[Project]:
    return await offload(
        projects.list,
        principal,
        include_deleted=include_deleted,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{name}", openapi_extra=policy(Action.PROJECT_READ))
async def get_project(name: str, projects: ProjectsDep, principal: PrincipalDep) -> Project:
    return await offload(projects.get, principal, name)


@router.delete("/{name}", openapi_extra=policy(Action.PROJECT_DELETE))
async def delete_project(name: str, projects: ProjectsDep, principal: PrincipalDep) -> Project:
    return await offload(projects.delete, principal, name)


@router.post("/{name}/restore", openapi_extra=policy(Action.PROJECT_DELETE))
async def restore_project(name: str, projects: ProjectsDep, principal: PrincipalDep) -> Project:
    return await offload(projects.restore, principal, name)
