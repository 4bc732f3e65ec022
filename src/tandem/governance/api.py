"""REST endpoints for the brief, success criteria, RACI, scorecards and project-as-code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from tandem.core.auth import Action
from tandem.core.validation import Number, NumberOrZero
from tandem.governance.gate_service import GateService
from tandem.governance.gates import (
    Attestation,
    DecisionCreate,
    DecisionRecord,
    Gate,
    GateCancel,
    GateOpen,
    GateStatus,
    SignOffCreate,
    WaiverCreate,
)
from tandem.governance.models import (
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
from tandem.governance.service import GovernanceService
from tandem.governance.spec import Plan, ProjectSpec
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import CRITERION_OWNER, GATE_SIGNER, ITEM_ATTESTER, policy
from tandem.registry.models import Stage

router = APIRouter(tags=["governance"])

GatesDep = Annotated[GateService, service(GateService)]
GovernanceDep = Annotated[GovernanceService, service(GovernanceService)]

PROJECT = "/projects/{project}"


@router.get(PROJECT + "/brief", openapi_extra=policy(Action.PROJECT_READ))
async def get_brief(
    project: str, governance: GovernanceDep, principal: PrincipalDep, version: Number | None = None
) -> Brief:
    """The brief (version 0 while nothing is written), or one of its older versions."""
    return await offload(governance.get_brief, principal, project, version)


@router.put(PROJECT + "/brief", openapi_extra=policy(Action.PLAN_WRITE))
async def set_brief(
    project: str, body: BriefUpdate, governance: GovernanceDep, principal: PrincipalDep
) -> Brief:
    """Save a new version of the brief (nothing new if it is unchanged). With `base_version`,
    a 409 `conflict` if someone saved another version since."""
    return await offload(governance.set_brief, principal, project, body)


@router.get(PROJECT + "/brief/versions", openapi_extra=policy(Action.PROJECT_READ))
async def brief_versions(
    project: str, governance: GovernanceDep, principal: PrincipalDep
) -> list[Brief]:
    """Every version of the brief, newest first, with who wrote it and when."""
    return await offload(governance.brief_history, principal, project)


@router.get(PROJECT + "/brief/diff", openapi_extra=policy(Action.PROJECT_READ))
async def brief_diff(
    project: str,
    governance: GovernanceDep,
    principal: PrincipalDep,
    a: NumberOrZero | None = None,
    b: NumberOrZero | None = None,
) -> BriefDiff:
    """What changed between two versions (default: the newest and the one before)."""
    return await offload(governance.brief_diff, principal, project, a, b)


@router.get(PROJECT + "/criteria", openapi_extra=policy(Action.PROJECT_READ))
async def list_criteria(
    project: str, governance: GovernanceDep, principal: PrincipalDep
) -> list[Criterion]:
    return await offload(governance.list_criteria, principal, project)


@router.put(PROJECT + "/criteria/{key}", openapi_extra=policy(Action.PLAN_WRITE))
async def put_criterion(
    project: str, key: str, body: CriterionSet, governance: GovernanceDep, principal: PrincipalDep
) -> Criterion:
    """Create or change a success criterion (the change is audited with its old value)."""
    return await offload(governance.put_criterion, principal, project, key, body)


@router.delete(
    PROJECT + "/criteria/{key}", status_code=204, openapi_extra=policy(Action.PLAN_WRITE)
)
async def delete_criterion(
    project: str, key: str, governance: GovernanceDep, principal: PrincipalDep
) -> Response:
    await offload(governance.delete_criterion, principal, project, key)
    return Response(status_code=204)


@router.get(PROJECT + "/raci", openapi_extra=policy(Action.PROJECT_READ))
async def get_raci(project: str, governance: GovernanceDep, principal: PrincipalDep) -> Raci:
    return await offload(governance.get_raci, principal, project)


@router.put(PROJECT + "/raci", openapi_extra=policy(Action.RACI_WRITE))
async def set_raci(
    project: str, body: RaciSet, governance: GovernanceDep, principal: PrincipalDep
) -> Raci:
    """Replace the matrix: activity -> member -> R, A, C or I, exactly one A per activity."""
    return await offload(governance.set_raci, principal, project, body)


@router.put(PROJECT + "/raci/{activity}", openapi_extra=policy(Action.RACI_WRITE))
async def set_raci_activity(
    project: str, activity: str, body: RaciRow, governance: GovernanceDep, principal: PrincipalDep
) -> Raci:
    """Set one activity's row; the other activities stay as they are (an empty row removes
    the activity)."""
    return await offload(governance.set_raci_activity, principal, project, activity, body.members)


@router.delete(PROJECT + "/raci/{activity}", openapi_extra=policy(Action.RACI_WRITE))
async def remove_raci_activity(
    project: str, activity: str, governance: GovernanceDep, principal: PrincipalDep
) -> Raci:
    """Remove one activity from the matrix."""
    return await offload(governance.remove_raci_activity, principal, project, activity)


@router.get(
    PROJECT + "/models/{name}/versions/{version}/scorecard",
    openapi_extra=policy(Action.MODEL_READ),
)
async def scorecard(
    project: str, name: str, version: str, governance: GovernanceDep, principal: PrincipalDep
) -> Scorecard:
    """Each success criterion met, not met or without evidence for this version, with the
    evaluation or run that decides it."""
    return await offload(governance.scorecard, principal, project, name, version)


@router.get(PROJECT + "/spec", openapi_extra=policy(Action.PROJECT_READ))
async def export_spec(
    project: str, governance: GovernanceDep, principal: PrincipalDep
) -> ProjectSpec:
    """The brief, criteria and RACI as one document (`tandem project export`)."""
    return await offload(governance.export, principal, project)


@router.post(PROJECT + "/spec/plan", openapi_extra=policy(Action.PROJECT_READ))
async def plan_spec(
    project: str, body: ProjectSpec, governance: GovernanceDep, principal: PrincipalDep
) -> Plan:
    """What applying `body` would change; changes nothing."""
    return await offload(governance.plan, principal, project, body)


@router.put(PROJECT + "/spec", openapi_extra=policy(Action.PLAN_WRITE))
async def apply_spec(
    project: str, body: ProjectSpec, governance: GovernanceDep, principal: PrincipalDep
) -> Plan:
    """Make the brief, criteria and RACI say what `body` says, in one transaction. Changing
    the RACI needs `raci:write` too."""
    return await offload(governance.apply, principal, project, body)


# -- gates ---------------------------------------------------------------------------------


@router.post(PROJECT + "/gates", status_code=201, openapi_extra=policy(Action.MODEL_WRITE))
async def open_gate(project: str, body: GateOpen, gates: GatesDep, principal: PrincipalDep) -> Gate:
    """Request moving a model version one stage forward (or to retired): opens its gate, with
    the checklist evaluated from evidence and the sign-offs it needs."""
    return await offload(gates.open, principal, project, body)


@router.get(PROJECT + "/gates", openapi_extra=policy(Action.MODEL_READ))
async def list_gates(
    project: str,
    gates: GatesDep,
    principal: PrincipalDep,
    status: GateStatus | None = GateStatus.OPEN,
    all: bool = False,
) -> list[Gate]:
    """The project's gates, newest first: open ones by default, every one with `all=true`."""
    chosen = None if all else status
    return await offload(gates.list_gates, principal, project, status=chosen)


@router.get(PROJECT + "/gates/check", openapi_extra=policy(Action.MODEL_READ))
async def check_gate(
    project: str,
    gates: GatesDep,
    principal: PrincipalDep,
    model: Annotated[str, Query(description="NAME@N or NAME@ALIAS")],
    to: Stage,
) -> Gate:
    """Whether moving `model` to `to` would pass now (its open gate, or the one it would
    open); changes nothing. `passes` is the answer, the checklist says why."""
    return await offload(gates.check, principal, project, model, to)


@router.get(PROJECT + "/gates/{gate_id}", openapi_extra=policy(Action.MODEL_READ))
async def get_gate(project: str, gate_id: str, gates: GatesDep, principal: PrincipalDep) -> Gate:
    return await offload(gates.get, principal, project, gate_id)


@router.post(PROJECT + "/gates/{gate_id}/signoffs", openapi_extra=policy(GATE_SIGNER))
async def sign_gate(
    project: str, gate_id: str, body: SignOffCreate, gates: GatesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Approve or reject, as yourself: only the members the RACI marks Accountable for the
    gate's activity sign. The approval that completes a gate whose checklist holds passes it
    and moves the version; a rejection (with a comment) closes it."""
    return await offload(gates.sign, principal, project, gate_id, body)


@router.post(PROJECT + "/gates/{gate_id}/complete", openapi_extra=policy(Action.MODEL_WRITE))
async def complete_gate(
    project: str, gate_id: str, gates: GatesDep, principal: PrincipalDep
) -> Gate:
    """Pass the gate if everything holds now (evidence may have arrived after the last
    sign-off), moving the version; otherwise return it, open, saying what is missing."""
    return await offload(gates.complete, principal, project, gate_id)


@router.post(PROJECT + "/gates/{gate_id}/cancel", openapi_extra=policy(Action.MODEL_RELEASE))
async def cancel_gate(
    project: str, gate_id: str, body: GateCancel, gates: GatesDep, principal: PrincipalDep
) -> Gate:
    """Withdraw an open gate (its opener may too, without `model:release`)."""
    return await offload(gates.cancel, principal, project, gate_id, body.reason)


@router.post(PROJECT + "/gates/{gate_id}/waivers", openapi_extra=policy(CRITERION_OWNER))
async def waive_criterion(
    project: str, gate_id: str, body: WaiverCreate, gates: GatesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Waive a criterion for the gate's version, as the criterion's owner role; the reason is
    recorded as an accepted decision record."""
    return await offload(gates.waive, principal, project, gate_id, body)


@router.post(PROJECT + "/gates/{gate_id}/attestations", openapi_extra=policy(ITEM_ATTESTER))
async def attest_item(
    project: str, gate_id: str, body: Attestation, gates: GatesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Attest one of the project's own checklist items (`gates:` in project.yaml), as a member
    of the role the item names."""
    return await offload(gates.attest, principal, project, gate_id, body)


# -- decision records --------------------------------------------------------------------------


@router.post(PROJECT + "/decisions", status_code=201, openapi_extra=policy(Action.PLAN_WRITE))
async def create_decision(
    project: str, body: DecisionCreate, gates: GatesDep, principal: PrincipalDep
) -> DecisionRecord:
    """Record a decision (ADR style), proposed or accepted; `supersedes` replaces an accepted
    one, which is otherwise immutable."""
    return await offload(gates.create_decision, principal, project, body)


@router.get(PROJECT + "/decisions", openapi_extra=policy(Action.PROJECT_READ))
async def list_decisions(
    project: str,
    gates: GatesDep,
    principal: PrincipalDep,
    q: str | None = None,
    link: Annotated[str | None, Query(description="only those linked to this reference")] = None,
) -> list[DecisionRecord]:
    return await offload(gates.list_decisions, principal, project, q=q, link=link)


@router.get(PROJECT + "/decisions/{number}", openapi_extra=policy(Action.PROJECT_READ))
async def get_decision(
    project: str, number: Number, gates: GatesDep, principal: PrincipalDep
) -> DecisionRecord:
    return await offload(gates.get_decision, principal, project, number)


@router.post(PROJECT + "/decisions/{number}/accept", openapi_extra=policy(Action.PLAN_WRITE))
async def accept_decision(
    project: str, number: Number, gates: GatesDep, principal: PrincipalDep
) -> DecisionRecord:
    """Accept a proposed decision, as its approver; it never changes after."""
    return await offload(gates.accept_decision, principal, project, number)
