"""Gates on a real trained and evaluated model: checklists evaluated from evidence, sign-offs by
the RACI's accountable members only, waivers by a criterion's owner role with a decision
record, stale evidence, rejections, concurrent sign-offs, and stage moves that go through a
gate from the service layer and the REST API alike."""

from __future__ import annotations

import threading

import pytest
from governance_world import CONTRACT, Team
from starlette.testclient import TestClient

from tandem.deployments.models import DeployRequest, EndpointCreate, EventKind
from tandem.errors import Conflict, InvalidInput, PermissionDenied
from tandem.governance.decisions.models import DecisionCreate
from tandem.governance.gates.models import (
    GateOpen,
    GateStatus,
    SignDecision,
    SignOffCreate,
    WaiverCreate,
)
from tandem.governance.plan.spec import CriterionSpec
from tandem.registry.models import Stage
from tandem.server.app import create_app

APPROVE = SignOffCreate(decision=SignDecision.APPROVE, comment="looks right")


def _items(gate) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {item.key: item.holds for item in gate.checklist}


def _stage(team: Team) -> Stage:
    return team.services.registry.get_version(team.services.owner, "churn", "churn-lr", "1").stage


def test_review_gate_passes_on_evidence_and_the_accountable_members_approval(
    release: Team,
) -> None:
    gates, p = release.services.gates, release.principals
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    assert (gate.status, gate.from_stage, gate.activity) == (
        GateStatus.OPEN,
        Stage.DRAFT,
        "evaluation",
    )
    assert _items(gate) == {
        "reproducible": True,
        "training-data-contract": True,
        "holdout-evaluation": True,
        "model-criteria": True,
        "sign-offs": False,
    }
    assert gate.required == ["ds"] and gate.waiting_for == ["ds"] and not gate.passes
    holdout = next(i for i in gate.checklist if i.key == "holdout-evaluation")
    assert holdout.detail == "on telco-holdout@v1" and holdout.evidence[0].startswith(
        "evaluations/"
    )
    with pytest.raises(Conflict, match="already has an open gate"):
        gates.open(p["mle"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    for who in ("pm", "mle", "viewer", "padmin"):  # not the accountable member
        with pytest.raises(PermissionDenied, match="not among the members who sign"):
            gates.sign(p[who], "churn", gate.id, APPROVE)
    passed = gates.sign(p["ds"], "churn", gate.id, APPROVE)
    assert passed.status is GateStatus.PASSED and passed.passes
    assert _stage(release) is Stage.READY_FOR_REVIEW
    with pytest.raises(Conflict, match="passed"):
        gates.sign(p["ds"], "churn", gate.id, APPROVE)
    stored = gates.get(p["viewer"], "churn", gate.id)
    assert stored.signoffs[0].member == "ds" and stored.signoffs[0].role == "data-scientist"
    assert _items(stored)["sign-offs"] is True  # the checklist as it stood when it passed


def test_release_gate_needs_release_criteria_a_rollback_target_and_the_pm(release: Team) -> None:
    gates, p = release.services.gates, release.principals
    review = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    gates.sign(p["ds"], "churn", review.id, APPROVE)
    gate = gates.open(
        p["mle"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_PRODUCTION)
    )
    items = _items(gate)
    assert items["release-criteria"] is False and items["rollback-target"] is False
    assert items["monitoring-plan"] is True and items["no-unresolved-pii"] is True
    criteria = next(i for i in gate.checklist if i.key == "release-criteria")
    assert criteria.detail.startswith("parity not met (")
    assert gate.required == ["pm"]  # the accountable member; mle is only responsible

    # the parity criterion is compliance's to waive, with a decision record
    waiver = WaiverCreate(criterion="parity", reason="Parity is measured in the A/B test instead")
    for who in ("ds", "pm", "padmin"):
        with pytest.raises(
            PermissionDenied, match=r"only the criterion's owner role \(compliance\)"
        ):
            gates.waive(p[who], "churn", gate.id, waiver)
    waived = gates.waive(p["comp"], "churn", gate.id, waiver)
    assert _items(waived)["release-criteria"] is True
    decision = release.services.decisions.list_decisions(p["viewer"], "churn")[0]
    assert decision.status.value == "accepted" and decision.approvers == ["comp"]
    assert "models/churn-lr@1" in decision.links and decision.decision == waiver.reason
    with pytest.raises(Conflict, match="waived for models/churn-lr@1 already"):
        gates.waive(p["comp"], "churn", gate.id, waiver)

    # a first release: an accepted decision record linked to the version is the rollback plan
    record = DecisionCreate(
        title="First release of churn-lr",
        decision="Roll back by switching the call list off",
        links=["models/churn-lr@1"],
        accept=True,
    )
    release.services.decisions.create_decision(p["pm"], "churn", record)
    gate = gates.get(p["mle"], "churn", gate.id)
    assert all(i.holds for i in gate.checklist if i.key != "sign-offs") and not gate.passes
    with pytest.raises(Conflict, match="does not pass yet: sign-offs: waiting for pm"):
        release.services.gates.move_stage(
            p["mle"], "churn", "churn-lr", "1", Stage.READY_FOR_PRODUCTION
        )
    passed = gates.sign(p["pm"], "churn", gate.id, APPROVE)  # a PM's approval completes it
    assert passed.status is GateStatus.PASSED
    assert _stage(release) is Stage.READY_FOR_PRODUCTION

    # released to a production endpoint: the history names the gate as its evidence
    deployments = release.services.deployments
    deployments.create_endpoint(p["mle"], "churn", EndpointCreate(name="prod", production=True))
    deployments.deploy(p["mle"], "churn", "prod", DeployRequest(model="churn-lr", version="1"))
    events = deployments.history(p["viewer"], "churn", "prod").items
    deployed = next(e for e in events if e.kind is EventKind.DEPLOYED)
    assert deployed.evidence["gate"] == gate.id


def test_a_rejection_needs_a_reason_and_closes_the_gate(release: Team) -> None:
    gates, p = release.services.gates, release.principals
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    with pytest.raises(InvalidInput, match="a rejection needs a comment"):
        gates.sign(p["ds"], "churn", gate.id, SignOffCreate(decision=SignDecision.REJECT))
    rejected = gates.sign(
        p["ds"], "churn", gate.id, SignOffCreate(decision="reject", comment="Slice recall too low")
    )
    assert rejected.status is GateStatus.REJECTED and rejected.reason == "Slice recall too low"
    assert _stage(release) is Stage.DRAFT
    again = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    assert again.id != gate.id and again.signoffs == []
    with pytest.raises(PermissionDenied):
        gates.cancel(p["viewer"], "churn", again.id, "no")
    cancelled = gates.cancel(p["ds"], "churn", again.id, "wrong version")  # its opener
    assert cancelled.status is GateStatus.CANCELLED


def test_stale_evidence_does_not_count(release: Team) -> None:
    from tandem.sdk.client import Client

    client = Client(settings=release.services.settings)
    # the holdout version the evaluation used fails the contract: a sample has too few rows
    client.data.validate("churn/telco-holdout@v1", contract=CONTRACT)
    gates, p = release.services.gates, release.principals
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    holdout = next(i for i in gate.checklist if i.key == "holdout-evaluation")
    assert not holdout.holds and "telco-holdout@v1, which failed its contract" in holdout.detail
    assert _items(gate)["model-criteria"] is False  # its only evidence is stale
    gates.sign(p["ds"], "churn", gate.id, APPROVE)
    assert gates.get(p["ds"], "churn", gate.id).status is GateStatus.OPEN
    assert _stage(release) is Stage.DRAFT
    client.close()


def test_editing_a_criterion_re_evaluates_an_open_gate(release: Team) -> None:
    gates, gov, p = release.services.gates, release.services.plan, release.principals
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    assert _items(gate)["model-criteria"] is True
    strict = CriterionSpec(
        kind="model", check="roc_auc >= 0.99", dataset="telco-holdout", owner="data-scientist"
    )
    gov.put_criterion(p["ds"], "churn", "auc", strict.to_set())
    item = next(
        i for i in gates.get(p["ds"], "churn", gate.id).checklist if i.key == "model-criteria"
    )
    assert not item.holds and item.detail.startswith("auc not met (")
    changes = [
        e
        for e in release.services.audit.list(p["padmin"], project="churn").items
        if e.action == "criterion.update"
    ]
    assert changes[0].details["before"]["threshold"] == 0.6


def test_concurrent_sign_offs_do_not_race(release: Team) -> None:
    gates, p = release.services.gates, release.principals
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def sign() -> None:
        start.wait()
        try:
            gates.sign(p["ds"], "churn", gate.id, APPROVE)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=sign) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    final = gates.get(p["ds"], "churn", gate.id)
    assert final.status is GateStatus.PASSED and len(final.signoffs) == 1
    moves = [
        e
        for e in release.services.audit.list(p["padmin"], project="churn").items
        if e.action == "model.version.stage"
    ]
    assert len(moves) == 1 and moves[0].details["gate"] == gate.id


def test_retiring_needs_a_decision_record(release: Team) -> None:
    gates, decisions, p = release.services.gates, release.services.decisions, release.principals
    gate = gates.open(p["mle"], "churn", GateOpen(model="churn-lr@1", to=Stage.RETIRED))
    assert _items(gate) == {"decision-record": False, "sign-offs": False}
    record = DecisionCreate(
        title="Retire churn-lr@1", decision="Replaced", links=["models/churn-lr@1"]
    )
    proposed = decisions.create_decision(p["mle"], "churn", record)
    assert _items(gates.get(p["pm"], "churn", gate.id))["decision-record"] is False  # proposed
    decisions.accept_decision(p["pm"], "churn", proposed.number)
    with pytest.raises(Conflict, match="accepted: it cannot change"):
        decisions.accept_decision(p["pm"], "churn", proposed.number)
    assert gates.sign(p["pm"], "churn", gate.id, APPROVE).status is GateStatus.PASSED
    assert _stage(release) is Stage.RETIRED
    superseding = DecisionCreate(
        title="Retire churn-lr@1 (revised)",
        decision="Replaced by @2",
        supersedes=proposed.number,
        accept=True,
    )
    decisions.create_decision(p["pm"], "churn", superseding)
    old = decisions.get_decision(p["viewer"], "churn", proposed.number)
    assert old.status.value == "superseded" and old.superseded_by == proposed.number + 1
    assert [d.number for d in decisions.list_decisions(p["viewer"], "churn", q="REVISED")] == [
        proposed.number + 1
    ]


def test_rest_moves_stages_only_through_a_passing_gate(release: Team) -> None:
    api = TestClient(create_app(services=release.services), base_url="http://127.0.0.1")
    stage_url = "/api/v1/projects/churn/models/churn-lr/versions/1/stage"
    refused = api.post(stage_url, json={"stage": "ready-for-review"}, headers=release.auth("ds"))
    assert refused.status_code == 409 and "tandem gate open churn-lr@1" in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")
    opened = api.post(
        "/api/v1/projects/churn/gates",
        json={"model": "churn-lr@1", "to": "ready-for-review"},
        headers=release.auth("ds"),
    )
    assert opened.status_code == 201
    gate_id = opened.json()["id"]
    waiting = api.post(stage_url, json={"stage": "ready-for-review"}, headers=release.auth("ds"))
    assert waiting.status_code == 409 and "waiting for ds" in waiting.json()["detail"]
    check = api.get(
        "/api/v1/projects/churn/gates/check",
        params={"model": "churn-lr@1", "to": "ready-for-review"},
        headers=release.auth("viewer"),
    )
    assert check.status_code == 200 and check.json()["passes"] is False
    not_yours = api.post(
        f"/api/v1/projects/churn/gates/{gate_id}/signoffs",
        json={"decision": "approve"},
        headers=release.auth("pm"),
    )
    assert not_yours.status_code == 403 and not_yours.json()["code"] == "permission-denied"
    for_someone = api.post(
        f"/api/v1/projects/churn/gates/{gate_id}/signoffs",
        json={"decision": "approve", "member": "ds"},
        headers=release.auth("pm"),
    )
    assert for_someone.status_code == 422  # there is no way to sign for someone else
    signed = api.post(
        f"/api/v1/projects/churn/gates/{gate_id}/signoffs",
        json={"decision": "approve"},
        headers=release.auth("ds"),
    )
    assert signed.status_code == 200 and signed.json()["status"] == "passed"
    back = api.post(stage_url, json={"stage": "draft"}, headers=release.auth("ds"))
    assert back.status_code == 200 and back.json()["stage"] == "draft"


POLICY = """
gates:
  ready-for-review:
    signers: [A, R]
    items:
      - {key: security-review, title: Security review passed, attested_by: compliance}
"""


def test_project_gate_policy_adds_signers_and_attested_items(release: Team) -> None:
    from tandem.governance.gates.models import Attestation
    from tandem.governance.plan.documents import parse_project_file, project_yaml
    from tandem.governance.plan.models import RaciSet

    gov, gates, p = release.services.plan, release.services.gates, release.principals
    matrix = {"evaluation": {"ds": "A", "mle": "R"}, "release-approval": {"pm": "A"}}
    gov.set_raci(p["pm"], "churn", RaciSet.model_validate({"activities": matrix}))
    spec = parse_project_file(POLICY)
    plan = gov.plan(p["pm"], "churn", spec)
    assert [(c.section, c.action.value, c.key) for c in plan.changes] == [
        ("gates", "create", "ready-for-review")
    ]
    assert plan.changes[0].after == "signed by A+R; security-review (by compliance)"
    with pytest.raises(PermissionDenied, match="raci:write"):  # who signs is the RACI owners' call
        gov.apply(p["ds"], "churn", spec)
    gov.apply(p["pm"], "churn", spec)
    exported = gov.export(p["viewer"], "churn")
    assert (
        parse_project_file(project_yaml(exported)) == exported
        and gov.plan(p["pm"], "churn", exported).changes == []
    )
    bad = parse_project_file(POLICY.replace("[A, R]", "[R]"))
    with pytest.raises(InvalidInput, match=r"signers must be \[A\] or \[A, R\]"):
        gov.apply(p["pm"], "churn", bad)

    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    assert gate.required == ["ds", "mle"]  # accountable and, as the project asks, responsible
    assert _items(gate)["project:security-review"] is False
    assert [i.key for i in gate.checklist][-2:] == ["project:security-review", "sign-offs"]
    assert [i.key for i in gates.attestable(p["comp"], "churn", gate)] == ["security-review"]
    assert gates.attestable(p["pm"], "churn", gate) == []
    with pytest.raises(PermissionDenied, match="only a compliance attests 'security-review'"):
        gates.attest(p["pm"], "churn", gate.id, Attestation(item="security-review"))
    attested = gates.attest(
        p["comp"], "churn", gate.id, Attestation(item="security-review", comment="Pen test 2026-11")
    )
    item = next(i for i in attested.checklist if i.key == "project:security-review")
    assert item.holds and item.detail == "attested by comp (compliance): Pen test 2026-11"
    with pytest.raises(Conflict, match=r"attested on gate \w+ by comp already"):
        gates.attest(p["comp"], "churn", gate.id, Attestation(item="security-review"))
    gates.sign(p["ds"], "churn", gate.id, APPROVE)
    assert gates.get(p["ds"], "churn", gate.id).waiting_for == ["mle"]
    assert gates.sign(p["mle"], "churn", gate.id, APPROVE).status is GateStatus.PASSED
    assert gates.get(p["viewer"], "churn", gate.id).signoffs[1].letter == "R"


def test_two_signers_racing_both_succeed_and_the_version_moves_once(release: Team) -> None:
    from tandem.governance.plan.documents import parse_project_file
    from tandem.governance.plan.models import RaciSet

    gov, gates, p = release.services.plan, release.services.gates, release.principals
    matrix = {"evaluation": {"ds": "A", "mle": "R"}, "release-approval": {"pm": "A"}}
    gov.set_raci(p["pm"], "churn", RaciSet.model_validate({"activities": matrix}))
    gov.apply(
        p["pm"], "churn", parse_project_file("gates:\n  ready-for-review: {signers: [A, R]}\n")
    )
    gate = gates.open(p["ds"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW))
    assert gate.required == ["ds", "mle"]
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def sign(who: str) -> None:
        start.wait()
        outcomes[who] = gates.sign(p[who], "churn", gate.id, APPROVE).status.value

    threads = [threading.Thread(target=sign, args=(who,)) for who in ("ds", "mle")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ds", "mle"] and "passed" in outcomes.values()
    final = gates.get(p["viewer"], "churn", gate.id)
    assert final.status is GateStatus.PASSED and len(final.signoffs) == 2
    moves = [
        e
        for e in release.services.audit.list(p["padmin"], project="churn").items
        if e.action == "model.version.stage"
    ]
    assert len(moves) == 1 and _stage(release) is Stage.READY_FOR_REVIEW


def test_a_signer_who_left_the_project_blocks_the_gate_until_the_raci_changes(
    release: Team,
) -> None:
    from tandem.governance.plan.models import RaciSet

    services, p = release.services, release.principals
    gate = services.gates.open(
        p["mle"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW)
    )
    services.identity.remove_member(services.owner, "churn", "ds")
    left = services.gates.get(p["mle"], "churn", gate.id)
    item = next(i for i in left.checklist if i.key == "sign-offs")
    assert not item.holds and item.detail == "ds left the project: update the RACI for 'evaluation'"
    assert left.required == [] and not left.passes  # nobody signs for them
    matrix = {"evaluation": {"mle": "A"}, "release-approval": {"pm": "A"}}
    services.plan.set_raci(p["pm"], "churn", RaciSet.model_validate({"activities": matrix}))
    assert services.gates.get(p["mle"], "churn", gate.id).required == ["mle"]
    assert services.gates.sign(p["mle"], "churn", gate.id, APPROVE).status is GateStatus.PASSED


def test_the_plan_gates_the_stages_that_have_a_checklist() -> None:
    """project.yaml's `gates:` accepts exactly the stages the gates domain has a checklist for."""
    from tandem.governance.gates.models import CHECKLISTS
    from tandem.governance.plan.models import GATED_STAGES

    assert set(CHECKLISTS) == set(GATED_STAGES)
