"""REST endpoints for the brief, success criteria, RACI, scorecards and project-as-code."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tandem.core.auth import Action
from tandem.core.validation import Number, NumberOrZero
from tandem.governance.plan.models import (
    Brief,
    BriefDiff,
    BriefUpdate,
    Criterion,
    CriterionSet,
    Raci,
    RaciRow,
    RaciSet,
    Scorecard,
)
from tandem.governance.plan.spec import Plan, ProjectSpec
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import policy

router = APIRouter(tags=["governance"])
PROJECT = "/projects/{project}"


@router.get(PROJECT + "/brief", openapi_extra=policy(Action.PROJECT_READ))
async def get_brief(
    project: str, services: ServicesDep, principal: PrincipalDep, version: Number | None = None
) -> Brief:
    """The brief (version 0 while nothing is written), or one of its older versions."""
    return await offload(services.plan.get_brief, principal, project, version)


@router.put(PROJECT + "/brief", openapi_extra=policy(Action.PLAN_WRITE))
async def set_brief(
    project: str, body: BriefUpdate, services: ServicesDep, principal: PrincipalDep
) -> Brief:
    """Save a new version of the brief (nothing new if it is unchanged). With `base_version`,
    a 409 `conflict` if someone saved another version since."""
    return await offload(services.plan.set_brief, principal, project, body)


@router.get(PROJECT + "/brief/versions", openapi_extra=policy(Action.PROJECT_READ))
async def brief_versions(
    project: str, services: ServicesDep, principal: PrincipalDep
) -> list[Brief]:
    """Every version of the brief, newest first, with who wrote it and when."""
    return await offload(services.plan.brief_history, principal, project)


@router.get(PROJECT + "/brief/diff", openapi_extra=policy(Action.PROJECT_READ))
async def brief_diff(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    a: NumberOrZero | None = None,
    b: NumberOrZero | None = None,
) -> BriefDiff:
    """What changed between two versions (default: the newest and the one before)."""
    return await offload(services.plan.brief_diff, principal, project, a, b)


@router.get(PROJECT + "/criteria", openapi_extra=policy(Action.PROJECT_READ))
async def list_criteria(
    project: str, services: ServicesDep, principal: PrincipalDep
) -> list[Criterion]:
    return await offload(services.plan.list_criteria, principal, project)


@router.put(PROJECT + "/criteria/{key}", openapi_extra=policy(Action.PLAN_WRITE))
async def put_criterion(
    project: str, key: str, body: CriterionSet, services: ServicesDep, principal: PrincipalDep
) -> Criterion:
    """Create or change a success criterion (the change is audited with its old value)."""
    return await offload(services.plan.put_criterion, principal, project, key, body)


@router.delete(
    PROJECT + "/criteria/{key}", status_code=204, openapi_extra=policy(Action.PLAN_WRITE)
)
async def delete_criterion(
    project: str, key: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    await offload(services.plan.delete_criterion, principal, project, key)
    return Response(status_code=204)


@router.get(PROJECT + "/raci", openapi_extra=policy(Action.PROJECT_READ))
async def get_raci(project: str, services: ServicesDep, principal: PrincipalDep) -> Raci:
    return await offload(services.plan.get_raci, principal, project)


@router.put(PROJECT + "/raci", openapi_extra=policy(Action.RACI_WRITE))
async def set_raci(
    project: str, body: RaciSet, services: ServicesDep, principal: PrincipalDep
) -> Raci:
    """Replace the matrix: activity -> member -> R, A, C or I, exactly one A per activity."""
    return await offload(services.plan.set_raci, principal, project, body)


@router.put(PROJECT + "/raci/{activity}", openapi_extra=policy(Action.RACI_WRITE))
async def set_raci_activity(
    project: str, activity: str, body: RaciRow, services: ServicesDep, principal: PrincipalDep
) -> Raci:
    """Set one activity's row; the other activities stay as they are (an empty row removes
    the activity)."""
    return await offload(
        services.plan.set_raci_activity, principal, project, activity, body.members
    )


@router.delete(PROJECT + "/raci/{activity}", openapi_extra=policy(Action.RACI_WRITE))
async def remove_raci_activity(
    project: str, activity: str, services: ServicesDep, principal: PrincipalDep
) -> Raci:
    """Remove one activity from the matrix."""
    return await offload(services.plan.remove_raci_activity, principal, project, activity)


@router.get(
    PROJECT + "/models/{name}/versions/{version}/scorecard",
    openapi_extra=policy(Action.MODEL_READ),
)
async def scorecard(
    project: str, name: str, version: str, services: ServicesDep, principal: PrincipalDep
) -> Scorecard:
    """Each success criterion met, not met or without evidence for this version, with the
    evaluation or run that decides it."""
    return await offload(services.plan.scorecard, principal, project, name, version)


@router.get(PROJECT + "/spec", openapi_extra=policy(Action.PROJECT_READ))
async def export_spec(project: str, services: ServicesDep, principal: PrincipalDep) -> ProjectSpec:
    """The brief, criteria and RACI as one document (`tandem project export`)."""
    return await offload(services.plan.export, principal, project)


@router.post(PROJECT + "/spec/plan", openapi_extra=policy(Action.PROJECT_READ))
async def plan_spec(
    project: str, body: ProjectSpec, services: ServicesDep, principal: PrincipalDep
) -> Plan:
    """What applying `body` would change; changes nothing."""
    return await offload(services.plan.plan, principal, project, body)


@router.put(PROJECT + "/spec", openapi_extra=policy(Action.PLAN_WRITE))
async def apply_spec(
    project: str, body: ProjectSpec, services: ServicesDep, principal: PrincipalDep
) -> Plan:
    """Make the brief, criteria and RACI say what `body` says, in one transaction. Changing
    the RACI needs `raci:write` too."""
    return await offload(services.plan.apply, principal, project, body)
