"""REST endpoints for hypotheses, risks, retrospectives, action items, comments and the
activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.audit.models import Activity
from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.core.validation import Int64, Number
from tandem.governance.registers.models import (
    ActionItem,
    ActionItemCreate,
    ActionStatus,
    Comment,
    CommentCreate,
    Hypothesis,
    HypothesisPatch,
    HypothesisSet,
    RetroCreate,
    Retrospective,
    Risk,
    RiskPatch,
    RiskSet,
)
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import ACTION_OWNER, SIGNED_IN, policy

router = APIRouter(tags=["governance"])
PROJECT = "/projects/{project}"


@router.post(PROJECT + "/hypotheses", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def add_hypothesis(
    project: str, body: HypothesisSet, services: ServicesDep, principal: PrincipalDep
) -> Hypothesis:
    return await offload(services.registers.add_hypothesis, principal, project, body)


@router.put(PROJECT + "/hypotheses/{number}", openapi_extra=policy(Action.PLAN_WRITE))
async def update_hypothesis(
    project: str,
    number: Number,
    body: HypothesisSet,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Hypothesis:
    """Change a hypothesis (its status, and the runs or evaluations that decided it)."""
    return await offload(services.registers.update_hypothesis, principal, project, number, body)


@router.patch(PROJECT + "/hypotheses/{number}", openapi_extra=policy(Action.PLAN_WRITE))
async def patch_hypothesis(
    project: str,
    number: Number,
    body: HypothesisPatch,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Hypothesis:
    """Change only the fields given (`add_links` adds links), on the stored hypothesis."""
    return await offload(services.registers.update_hypothesis, principal, project, number, body)


@router.get(PROJECT + "/hypotheses", openapi_extra=policy(Action.PROJECT_READ))
async def list_hypotheses(
    project: str, services: ServicesDep, principal: PrincipalDep
) -> list[Hypothesis]:
    return await offload(services.registers.list_hypotheses, principal, project)


@router.post(PROJECT + "/risks", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def add_risk(
    project: str, body: RiskSet, services: ServicesDep, principal: PrincipalDep
) -> Risk:
    return await offload(services.registers.add_risk, principal, project, body)


@router.put(PROJECT + "/risks/{number}", openapi_extra=policy(Action.PLAN_WRITE))
async def update_risk(
    project: str, number: Number, body: RiskSet, services: ServicesDep, principal: PrincipalDep
) -> Risk:
    return await offload(services.registers.update_risk, principal, project, number, body)


@router.patch(PROJECT + "/risks/{number}", openapi_extra=policy(Action.PLAN_WRITE))
async def patch_risk(
    project: str,
    number: Number,
    body: RiskPatch,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Risk:
    """Change only the fields given (`add_links` adds links), on the stored risk."""
    return await offload(services.registers.update_risk, principal, project, number, body)


@router.get(PROJECT + "/risks", openapi_extra=policy(Action.PROJECT_READ))
async def list_risks(
    project: str, services: ServicesDep, principal: PrincipalDep, open: bool = False
) -> list[Risk]:
    """The risk register, overdue reviews first; `open=true` for open risks only."""
    return await offload(services.registers.list_risks, principal, project, open_only=open)


@router.post(PROJECT + "/retrospectives", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def add_retrospective(
    project: str, body: RetroCreate, services: ServicesDep, principal: PrincipalDep
) -> Retrospective:
    """A retrospective (start/stop/continue or 4Ls) and its action items."""
    return await offload(services.registers.add_retrospective, principal, project, body)


@router.get(PROJECT + "/retrospectives", openapi_extra=policy(Action.PROJECT_READ))
async def list_retrospectives(
    project: str, services: ServicesDep, principal: PrincipalDep
) -> list[Retrospective]:
    return await offload(services.registers.list_retrospectives, principal, project)


@router.post(PROJECT + "/actions", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def add_action(
    project: str, body: ActionItemCreate, services: ServicesDep, principal: PrincipalDep
) -> ActionItem:
    return await offload(services.registers.add_action, principal, project, body)


@router.get(PROJECT + "/actions", openapi_extra=policy(Action.PROJECT_READ))
async def list_actions(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    owner: str | None = None,
    all: bool = False,
) -> list[ActionItem]:
    """Open action items (every one with `all=true`), optionally one owner's."""
    return await offload(
        services.registers.list_actions, principal, project, owner=owner, open_only=not all
    )


@router.post(PROJECT + "/actions/{number}/done", openapi_extra=policy(ACTION_OWNER))
async def close_action(
    project: str, number: Number, services: ServicesDep, principal: PrincipalDep
) -> ActionItem:
    """Mark an action item done: its owner, or anyone with `plan:write`."""
    return await offload(
        services.registers.set_action_status, principal, project, number, ActionStatus.DONE
    )


@router.post(PROJECT + "/comments", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def add_comment(
    project: str, body: CommentCreate, services: ServicesDep, principal: PrincipalDep
) -> Comment:
    """Comment on any entity; @member mentions notify them."""
    return await offload(services.registers.add_comment, principal, project, body)


@router.get(PROJECT + "/comments", openapi_extra=policy(Action.PROJECT_READ))
async def list_comments(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    target: Annotated[str, Query(description="e.g. models/churn-gbm@3")],
) -> list[Comment]:
    return await offload(services.registers.list_comments, principal, project, target)


@router.get(PROJECT + "/activity", openapi_extra=policy(Action.PROJECT_READ))
async def activity(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: Int64 = 50,
) -> Page[Activity]:
    """Who changed what in the project, newest first (members read it; the full audit log
    with details needs `audit:read`)."""
    return await offload(
        services.registers.activity, principal, project, cursor=cursor, limit=limit
    )


@router.get("/me/actions", openapi_extra=policy(SIGNED_IN))
async def my_actions(services: ServicesDep, principal: PrincipalDep) -> list[ActionItem]:
    """Your open action items in every project, soonest due first."""
    return await offload(services.registers.my_actions, principal)
