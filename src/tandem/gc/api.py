"""REST endpoint for garbage collection."""

from __future__ import annotations

from fastapi import APIRouter

from tandem.gc.models import GcReport, GcRequest
from tandem.server.deps import PrincipalDep, ServicesDep, offload

router = APIRouter(tags=["maintenance"])


@router.post("/gc")
async def collect_garbage(
    body: GcRequest, services: ServicesDep, principal: PrincipalDep
) -> GcReport:
    return await offload(services.gc.collect, principal, body)
