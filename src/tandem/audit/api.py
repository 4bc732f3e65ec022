"""REST endpoint for reading the audit log. There is none for changing it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.audit.models import AuditEvent
from tandem.audit.service import AuditLog
from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.core.validation import Int64
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy

router = APIRouter(tags=["audit"])

AuditDep = Annotated[AuditLog, service(AuditLog)]


@router.get("/audit", openapi_extra=policy(Action.AUDIT_READ))
async def list_audit_events(
    audit: AuditDep,
    principal: PrincipalDep,
    project: str | None = Query(None, description="one project's events; none: all (admins)"),
    since: Int64 | None = Query(None, description="from this time, ms since the epoch"),
    until: Int64 | None = Query(None, description="before this time, ms since the epoch"),
    actor: str | None = None,
    action: str | None = Query(None, description="e.g. run.create, or run. for every run action"),
    outcome: str | None = Query(None, description="ok, denied or failed"),
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
) -> Page[AuditEvent]:
    """Audit events, newest first."""
    return await offload(
        audit.list,
        principal,
        project=project,
        since=since,
        until=until,
        actor=actor,
        action=action,
        outcome=outcome,
        cursor=cursor,
        limit=limit,
    )
