"""REST endpoint for garbage collection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from tandem.core.auth import Action
from tandem.gc.models import GcReport, GcRequest
from tandem.gc.service import GcService
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy

router = APIRouter(tags=["maintenance"])

GcDep = Annotated[GcService, service(GcService)]


@router.post("/gc", openapi_extra=policy(Action.ADMIN))
async def collect_garbage(body: GcRequest, gc: GcDep, principal: PrincipalDep) -> GcReport:
    return await offload(gc.collect, principal, body)
