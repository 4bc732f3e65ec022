"""REST endpoints for gates: open, read, check, sign, complete, cancel, waive and attest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tandem.core.auth import Action
from tandem.governance.gates.models import (
    Attestation,
    Gate,
    GateCancel,
    GateOpen,
    GateStatus,
    SignOffCreate,
    WaiverCreate,
)
from tandem.registry.models import Stage
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import CRITERION_OWNER, GATE_SIGNER, ITEM_ATTESTER, policy

router = APIRouter(tags=["governance"])
PROJECT = "/projects/{project}"


@router.post(PROJECT + "/gates", status_code=201, openapi_extra=policy(Action.MODEL_WRITE))
async def open_gate(
    project: str, body: GateOpen, services: ServicesDep, principal: PrincipalDep
) -> Gate:
    """Request moving a model version one stage forward (or to retired): opens its gate, with
    the checklist evaluated from evidence and the sign-offs it needs."""
    return await offload(services.gates.open, principal, project, body)


@router.get(PROJECT + "/gates", openapi_extra=policy(Action.MODEL_READ))
async def list_gates(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    status: GateStatus | None = GateStatus.OPEN,
    all: bool = False,
) -> list[Gate]:
    """The project's gates, newest first: open ones by default, every one with `all=true`."""
    chosen = None if all else status
    return await offload(services.gates.list_gates, principal, project, status=chosen)


@router.get(PROJECT + "/gates/check", openapi_extra=policy(Action.MODEL_READ))
async def check_gate(
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    model: Annotated[str, Query(description="NAME@N or NAME@ALIAS")],
    to: Stage,
) -> Gate:
    """Whether moving `model` to `to` would pass now (its open gate, or the one it would
    open); changes nothing. `passes` is the answer, the checklist says why."""
    return await offload(services.gates.check, principal, project, model, to)


@router.get(PROJECT + "/gates/{gate_id}", openapi_extra=policy(Action.MODEL_READ))
async def get_gate(
    project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Gate:
    return await offload(services.gates.get, principal, project, gate_id)


@router.post(PROJECT + "/gates/{gate_id}/signoffs", openapi_extra=policy(GATE_SIGNER))
async def sign_gate(
    project: str, gate_id: str, body: SignOffCreate, services: ServicesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Approve or reject, as yourself: only the members the RACI marks Accountable for the
    gate's activity sign. The approval that completes a gate whose checklist holds passes it
    and moves the version; a rejection (with a comment) closes it."""
    return await offload(services.gates.sign, principal, project, gate_id, body)


@router.post(PROJECT + "/gates/{gate_id}/complete", openapi_extra=policy(Action.MODEL_WRITE))
async def complete_gate(
    project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Gate:
    """Pass the gate if everything holds now (evidence may have arrived after the last
    sign-off), moving the version; otherwise return it, open, saying what is missing."""
    return await offload(services.gates.complete, principal, project, gate_id)


@router.post(PROJECT + "/gates/{gate_id}/cancel", openapi_extra=policy(Action.MODEL_RELEASE))
async def cancel_gate(
    project: str, gate_id: str, body: GateCancel, services: ServicesDep, principal: PrincipalDep
) -> Gate:
    """Withdraw an open gate (its opener may too, without `model:release`)."""
    return await offload(services.gates.cancel, principal, project, gate_id, body.reason)


@router.post(PROJECT + "/gates/{gate_id}/waivers", openapi_extra=policy(CRITERION_OWNER))
async def waive_criterion(
    project: str, gate_id: str, body: WaiverCreate, services: ServicesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Waive a criterion for the gate's version, as the criterion's owner role; the reason is
    recorded as an accepted decision record."""
    return await offload(services.gates.waive, principal, project, gate_id, body)


@router.post(PROJECT + "/gates/{gate_id}/attestations", openapi_extra=policy(ITEM_ATTESTER))
async def attest_item(
    project: str, gate_id: str, body: Attestation, services: ServicesDep,
    principal: PrincipalDep,
) -> Gate:  # fmt: skip
    """Attest one of the project's own checklist items (`gates:` in project.yaml), as a member
    of the role the item names."""
    return await offload(services.gates.attest, principal, project, gate_id, body)
