"""REST endpoints for lineage: the graph around an entity, and links recorded by clients
(pipeline stages reading each other's outputs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.core.auth import Action
from tandem.core.validation import Int64
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy
from tandem.lineage.models import DEFAULT_DEPTH, Direction, LineageEdge, LineageGraph, LinkCreate
from tandem.lineage.service import LineageService

router = APIRouter(tags=["lineage"])

LineageDep = Annotated[LineageService, service(LineageService)]

REF_HELP = "runs/ID, runs/ID/artifacts/PATH, datasets/NAME@vN, models/NAME@N or evaluations/ID"


@router.get("/projects/{project}/lineage", openapi_extra=policy(Action.RUN_READ))
async def lineage_graph(
    project: str,
    lineage: LineageDep,
    principal: PrincipalDep,
    ref: Annotated[str, Query(description=REF_HELP)],
    direction: Direction = Direction.BOTH,
    depth: Int64 = DEFAULT_DEPTH,
) -> LineageGraph:
    """The entities upstream and downstream of `ref` (within `depth` links) that the caller
    may read; each kind needs its own read permission (runs, data, models)."""
    return await offload(lineage.graph, principal, project, ref, direction, depth)


@router.post(
    "/projects/{project}/lineage/links", status_code=201, openapi_extra=policy(Action.RUN_WRITE)
)
async def lineage_link(
    project: str, body: LinkCreate, lineage: LineageDep, principal: PrincipalDep
) -> LineageEdge:
    """Record an edge: something `consumed-by` a run, or a run `produced` something. Needs
    write access to that run and read access to the other end."""
    return await offload(lineage.link, principal, project, body)
