"""REST endpoints for decision records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.core.auth import Action
from tandem.core.validation import Number
from tandem.governance.decisions.models import DecisionCreate, DecisionRecord
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import policy

router = APIRouter(tags=["governance"])
PROJECT = "/projects/{project}"


@router.post(PROJECT + "/decisions", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def create_decision(
    project: str, body: DecisionCreate, services: ServicesDep, principal: PrincipalDep
) -> DecisionRecord:
    """Record a decision (ADR style), proposed or accepted; `supersedes` replaces an accepted
    one, which is otherwise immutable."""
    return await offload(services.decisions.create_decision, principal, project, body)


@router.get(PROJECT + "/decisions", openapi_extra=policy(Action.PROJECT_READ))
async def list_decisions(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    q: str | None = None,
    link: Annotated[str | None, Query(description="only those linked to this reference")] = None,
) -> list[DecisionRecord]:
    return await offload(services.decisions.list_decisions, principal, project, q=q, link=link)


@router.get(PROJECT + "/decisions/{number}", openapi_extra=policy(Action.PROJECT_READ))
async def get_decision(
    project: str, number: Number, services: ServicesDep, principal: PrincipalDep
) -> DecisionRecord:
    return await offload(services.decisions.get_decision, principal, project, number)


@router.post(PROJECT + "/decisions/{number}/accept", openapi_extra=policy(Action.PLAN_WRITE))
async def accept_decision(
    project: str, number: Number, services: ServicesDep, principal: PrincipalDep
) -> DecisionRecord:
    """Accept a proposed decision, as its approver; it never changes after."""
    return await offload(services.decisions.accept_decision, principal, project, number)
