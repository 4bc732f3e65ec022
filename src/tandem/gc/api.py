"""REST endpoint for garbage collection."""

from __future__ import annotations

from fastapi import APIRouter

from tandem.core.auth import Action
from tandem.gc.models import GcReport, GcRequest
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import policy

router = APIRouter(tags=["maintenance"])


@router.post("/gc", openapi_extra=policy(Action.ADMIN))
async def collect_garbage(
    body: GcRequest, services: ServicesDep, principal: PrincipalDep
) -> GcReport:
    return await offload(services.gc.collect, principal, body)
