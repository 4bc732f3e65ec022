"""REST endpoint for garbage collection."""

from __future__ import annotations

from fastapi import APIRouter

from tandem.gc.models import GcReport, GcRequest
from tandem.server.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["maintenance"])


@router.post("/gc")
def collect_garbage(body: GcRequest, services: ServicesDep, principal: PrincipalDep) -> GcReport:
    return services.gc.collect(principal, body)
