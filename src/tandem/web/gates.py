"""Gate and decision pages: one gate's checklist, sign-offs and what it waits for, with the sign
form for the members it waits for and the waiver form for criterion owners; the project's
decision records.

The forms post to the same services as the REST API: who may sign or waive is decided there."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.errors import TandemError
from tandem.governance.gates.models import Attestation, SignDecision, SignOffCreate, WaiverCreate
from tandem.server.container import Services
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import CRITERION_OWNER, GATE_SIGNER, ITEM_ATTESTER, policy
from tandem.web.access import is_user_mistake
from tandem.web.forms import checked_form, text
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

COMMENT_LIMIT = 10_000
PAST = {SignDecision.APPROVE: "approved", SignDecision.REJECT: "rejected"}
NOTICES = {
    "approved": "Your approval is recorded.",
    "rejected": "Your rejection is recorded; the gate is closed.",
    "passed": "The gate passed: the version moved.",
    "waived": "The criterion is waived for this version, with a decision record.",
    "attested": "Your attestation is recorded.",
}


def _q(value: str) -> str:
    return quote(value, safe="")


def _gate_context(
    services: Services, principal: Principal, project: str, gate_id: str
) -> dict[str, Any]:
    gate = services.gates.get(principal, project, gate_id)
    return {
        "gate": gate,
        "waivable": services.gates.waivable(principal, project),
        "attestable": services.gates.attestable(principal, project, gate),
    }


async def comment_context(
    services: Services, principal: Principal, project: str, target: str, back: str
) -> dict[str, Any]:
    """What the comments section of an entity's page needs (`templates/comments.html`)."""
    return {
        "comments": await offload(services.registers.list_comments, principal, project, target),
        "comment_target": target,
        "may_comment": principal.may(Action.PLAN_WRITE, project),
        "back": back,
    }


async def _gate_page(
    request: Request,
    services: Services,
    principal: Principal,
    project: str,
    gate_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    found = await offload(_gate_context, services, principal, project, gate_id)
    gate = found["gate"]
    page = f"/projects/{_q(project)}/gates/{_q(gate_id)}"
    context = {
        "project": project,
        **found,
        **await comment_context(services, principal, project, f"gates/{gate.id}", page),
        "may_sign": gate.status.value == "open" and principal.name in gate.waiting_for,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{_q(project)}"),
            (f"Gate {gate.model}@{gate.version} → {gate.to_stage.value}", None),
        ],
    }
    return render(request, "gate.html", context, principal=principal, status=status)


@router.get("/projects/{project}/gates/{gate_id}", openapi_extra=policy(Action.MODEL_READ))
async def gate_page(
    request: Request, project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _gate_page(request, services, principal, project, gate_id)


@router.post("/projects/{project}/gates/{gate_id}/sign", openapi_extra=policy(GATE_SIGNER))
async def sign_gate(
    request: Request, project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)
    choice = text(form, "decision", 20)
    try:
        data = SignOffCreate(
            decision=SignDecision.REJECT if choice == "reject" else SignDecision.APPROVE,
            comment=text(form, "comment", COMMENT_LIMIT),
        )
        gate = await offload(services.gates.sign, principal, project, gate_id, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _gate_page(
            request, services, principal, project, gate_id, error=exc.message, status=exc.status
        )
    notice = "passed" if gate.status.value == "passed" else PAST[data.decision]
    return redirect(f"/projects/{_q(project)}/gates/{_q(gate_id)}?notice={notice}")


@router.post("/projects/{project}/gates/{gate_id}/waive", openapi_extra=policy(CRITERION_OWNER))
async def waive_criterion(
    request: Request, project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)
    try:
        reason = text(form, "reason", COMMENT_LIMIT).strip()
        if not reason:
            raise _missing_reason()
        data = WaiverCreate(criterion=text(form, "criterion", 100), reason=reason)
        await offload(services.gates.waive, principal, project, gate_id, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _gate_page(
            request, services, principal, project, gate_id, error=exc.message, status=exc.status
        )
    return redirect(f"/projects/{_q(project)}/gates/{_q(gate_id)}?notice=waived")


@router.post("/projects/{project}/gates/{gate_id}/attest", openapi_extra=policy(ITEM_ATTESTER))
async def attest_item(
    request: Request, project: str, gate_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    form = await checked_form(request, project)
    try:
        data = Attestation(
            item=text(form, "item", 100), comment=text(form, "comment", COMMENT_LIMIT)
        )
        await offload(services.gates.attest, principal, project, gate_id, data)
    except TandemError as exc:
        if not is_user_mistake(exc):
            raise
        return await _gate_page(
            request, services, principal, project, gate_id, error=exc.message, status=exc.status
        )
    return redirect(f"/projects/{_q(project)}/gates/{_q(gate_id)}?notice=attested")


def _missing_reason() -> TandemError:
    from tandem.errors import InvalidInput

    return InvalidInput("say why the criterion is waived: it becomes the decision record")


@router.get("/projects/{project}/decisions", openapi_extra=policy(Action.PROJECT_READ))
async def decisions_page(
    request: Request, project: str, services: ServicesDep, principal: PrincipalDep, q: str = ""
) -> Response:
    records = await offload(
        services.decisions.list_decisions, principal, project, q=q.strip() or None
    )
    context = {
        "project": project,
        "decisions": records,
        "q": q,
        "crumbs": [("Projects", "/"), (project, f"/projects/{_q(project)}"), ("Decisions", None)],
    }
    return render(request, "decisions.html", context, principal=principal)
