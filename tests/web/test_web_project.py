"""The project page over HTTP and in a real browser: brief, criteria, the scorecards of the
production and candidate versions, the RACI; editing the brief (a stale form is refused and
saves nothing); the brief's history as diffs with their authors; user text escaped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from data_world import Tables, data_folder
from model_world import add_models
from starlette.testclient import TestClient
from test_web_data import text_of
from web_world import XSS, World, csrf_of, shot, sign_in, sign_in_browser

from tandem.deployments.models import DeployRequest, EndpointCreate
from tandem.governance.plan.models import BriefUpdate, RaciSet
from tandem.governance.plan.spec import CriterionSpec
from tandem.governance.registers.models import ActionItemCreate, HypothesisSet, RiskSet
from tandem.registry.models import Stage
from tandem.server.app import create_app


@pytest.fixture
def governed(world: World, tmp_path: Path) -> dict[str, Any]:
    """vision: a brief (with a payload in its goal), three criteria, churn-lr@1 in production
    (serving endpoint prod) and @2 ready for review (evaluated on telco@v1), and a RACI."""
    services, owner = world.services, world.services.owner
    tables: Tables = data_folder(services, tmp_path)
    add_models(services, tables, tmp_path)
    registry = services.registry
    registry.set_stage(owner, "vision", "churn-lr", "1", Stage.READY_FOR_PRODUCTION)
    registry.set_stage(owner, "vision", "churn-lr", "1", Stage.PRODUCTION)
    # @1 serves a production endpoint: the rollback target of @2's release gate
    services.deployments.create_endpoint(
        owner, "vision", EndpointCreate(name="prod", production=True)
    )
    services.deployments.deploy(
        owner, "vision", "prod", DeployRequest(model="churn-lr", version="1")
    )
    registry.set_stage(owner, "vision", "churn-lr", "2", Stage.READY_FOR_REVIEW)
    gov = services.plan
    gov.set_brief(owner, "vision", BriefUpdate(goal=f"Keep customers {XSS}", status="agreed"))
    report = services.evaluations.list_for_model(owner, "vision", "churn-lr@2", full=True)[0]
    auc = report.overall["roc_auc"]
    criteria = {
        "auc": CriterionSpec(
            kind="model", check="roc_auc >= 0.6", dataset="telco", owner="data-scientist"
        ),
        "parity": CriterionSpec(
            kind="fairness",
            check="demographic_parity_difference <= 0.0001",
            slice="gender",
            owner="compliance",
        ),
        "uplift": CriterionSpec(
            kind="product", check="retention_uplift >= 2%", owner="product-manager"
        ),
    }
    for key, spec in criteria.items():
        gov.put_criterion(owner, "vision", key, spec.to_set())
    gov.set_raci(
        owner,
        "vision",
        RaciSet.model_validate({"activities": {"release-approval": {"ada": "A", "carl": "C"}}}),
    )
    registers = services.registers
    past = dt.date(2020, 1, 1)
    registers.add_risk(
        owner,
        "vision",
        RiskSet(
            description="Holdout misses new customers",
            impact="high",
            owner="carl",
            review_date=past,
        ),
    )
    registers.add_action(
        owner, "vision", ActionItemCreate(title="Add a new-customer slice", owner="vic", due=past)
    )
    registers.add_hypothesis(
        owner, "vision", HypothesisSet(statement="Tenure predicts churn", owner="ada")
    )
    return {"auc": auc}


def test_project_page_for_a_viewer(world: World, api: TestClient, governed: dict) -> None:
    sign_in(api, "vic")
    page = api.get("/projects/vision")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Keep customers" in text and "agreed" in text and "version 1" in text
    assert "<script>window.__xss" not in page.text and "&lt;script&gt;" in page.text
    assert "model: roc_auc >= 0.6 on telco" in text
    assert "fairness: demographic_parity_difference <= 0.0001 [across gender]" in text
    assert "churn-lr version 2" in text and "churn-lr version 1" in text
    card_2 = page.text.split('id="scorecard-churn-lr-2"')[1].split("</article>")[0]
    assert "verdict-met" in card_2 and "evaluation on telco@v1" in card_2
    assert "verdict-not-met" in card_2  # parity within 0.0001 does not hold
    assert f"{governed['auc']:.6g}" in card_2
    card_1 = page.text.split('id="scorecard-churn-lr-1"')[1].split("</article>")[0]
    assert "verdict-met" not in card_1 and "no evaluation of this version on telco yet" in card_1
    assert "release-approval" in text
    assert "Holdout misses new customers" in text and "review overdue" in text
    assert "Tenure predicts churn" in text and "risk.create" in text  # hypotheses, activity
    assert 'action="/projects/vision/brief"' not in page.text  # no edit form for a viewer
    # vic owns action item 1: only that one has a Done button for them
    assert 'action="/projects/vision/actions/1/done"' in page.text
    account = api.get("/account")
    assert "A1: Add a new-customer slice" in text_of(account.text)
    assert "gave you action item A1 in vision" in account.text
    token = csrf_of(page.text)
    done = api.post(
        "/projects/vision/actions/1/done", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith(
        "?notice=action-done#actions"
    )
    assert world.services.registers.list_actions(world.services.owner, "vision") == []
    read = api.post(
        "/account/notifications/read", data={"csrf_token": token}, follow_redirects=False
    )
    assert read.status_code == 303
    assert world.services.notifier.mine(world.services.owner) == []  # the owner was told nothing
    history = api.get("/projects/vision/brief")
    assert history.status_code == 200 and "Version 1" in history.text
    token = csrf_of(api.get("/account").text)
    refused = api.post("/projects/vision/brief", data={"goal": "mine", "csrf_token": token})
    assert refused.status_code == 403
    assert world.services.plan.get_brief(world.services.owner, "vision").version == 1


def test_editing_the_brief_and_a_stale_form(world: World, api: TestClient, governed: dict) -> None:
    api.cookies.clear()
    sign_in(api, "carl")  # compliance may edit the brief
    page = api.get("/projects/vision")
    token = csrf_of(page.text)
    form = {"goal": "Keep 2% more customers", "user_story": "As a PM", "status": "in-review"}
    saved = api.post(
        "/projects/vision/brief",
        data={**form, "base_version": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved#brief")
    brief = world.services.plan.get_brief(world.services.owner, "vision")
    assert (brief.version, brief.created_by, brief.goal) == (2, "carl", "Keep 2% more customers")
    # a form loaded before that save (version 1) is refused, and shows what was typed
    stale = api.post(
        "/projects/vision/brief",
        data={**form, "goal": "Old idea", "base_version": "1", "csrf_token": token},
    )
    assert stale.status_code == 409
    assert "is at version 2, not 1: carl saved it since" in stale.text and "Old idea" in stale.text
    bad = api.post(
        "/projects/vision/brief",
        data={**form, "status": "done", "base_version": "2", "csrf_token": token},
    )
    assert bad.status_code == 422 and "not saved" in bad.text
    assert world.services.plan.get_brief(world.services.owner, "vision").version == 2
    history = text_of(api.get("/projects/vision/brief").text)
    assert "Version 2" in history and "by carl" in history
    assert "+Keep 2% more customers" in history and "+in-review" in history


def test_project_page_in_a_browser(browser: Any, world: World, governed: dict, serve: Any) -> None:
    with serve(create_app(services=world.services, allow_open=True)) as site:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in_browser(page, site, "ada")
        page.get_by_role("link", name="vision").click()
        page.wait_for_url(f"{site}/projects/vision")
        assert page.get_by_role("heading", name="Success criteria").is_visible()
        assert page.locator("#scorecard-churn-lr-2 .verdict-met").count() == 1
        page.get_by_text("Edit the brief").click()
        page.get_by_label("User story").fill("As a retention manager, I want a weekly list.")
        page.get_by_label("Status").select_option("agreed")
        page.get_by_role("button", name="Save a new version").click()
        page.wait_for_url(f"{site}/projects/vision?notice=saved#brief")
        assert page.get_by_role("status").inner_text() == "Saved a new version of the brief."
        assert page.get_by_text("As a retention manager, I want a weekly list.").count() >= 1
        shot(page, "project")
        page.get_by_role("link", name="History").click()
        assert page.get_by_role("heading", name="Version 2").is_visible()
        page.get_by_role("link", name="vision").click()
        page.get_by_role("link", name="Runs").first.click()
        page.wait_for_url(f"{site}/projects/vision/runs")
        assert page.get_by_role("heading", name="Runs in vision").is_visible()
        assert dialogs == [] and page.evaluate("window.__xss") is None


@pytest.fixture
def gate_id(world: World, governed: dict) -> str:
    """A gate moving churn-lr@2 to ready-for-production (ada signs it; carl owns parity)."""
    from tandem.governance.gates.models import GateOpen

    services = world.services
    opened = services.gates.open(
        services.owner, "vision", GateOpen(model="churn-lr@2", to=Stage.READY_FOR_PRODUCTION)
    )
    return opened.id


def test_gate_page_sign_and_waive_forms(world: World, api: TestClient, gate_id: str) -> None:
    sign_in(api, "vic")
    page = api.get(f"/projects/vision/gates/{gate_id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "churn-lr version 2: ready-for-review → ready-for-production" in text
    assert "waiting for ada" in text and "release-approval" in text
    assert 'id="item-release-criteria"' in page.text and "Sign-offs" in text
    assert "/sign" not in page.text and "/waive" not in page.text  # a viewer gets no forms
    overview = api.get("/projects/vision")
    assert f'href="/projects/vision/gates/{gate_id}"' in overview.text
    token = csrf_of(api.get("/account").text)
    refused = api.post(
        f"/projects/vision/gates/{gate_id}/sign", data={"decision": "approve", "csrf_token": token}
    )
    assert refused.status_code == 403

    api.cookies.clear()
    sign_in(api, "carl")  # compliance owns the parity criterion
    page = api.get(f"/projects/vision/gates/{gate_id}")
    assert f'action="/projects/vision/gates/{gate_id}/waive"' in page.text
    assert "/sign" not in page.text  # carl is consulted, not accountable
    token = csrf_of(page.text)
    empty = api.post(
        f"/projects/vision/gates/{gate_id}/waive",
        data={"criterion": "parity", "reason": " ", "csrf_token": token},
    )
    assert empty.status_code == 422 and "say why the criterion is waived" in empty.text
    not_his = api.post(
        f"/projects/vision/gates/{gate_id}/waive",
        data={"criterion": "auc", "reason": "r", "csrf_token": token},
    )
    assert not_his.status_code == 403
    waived = api.post(
        f"/projects/vision/gates/{gate_id}/waive",
        data={"criterion": "parity", "reason": "Measured in the A/B test", "csrf_token": token},
        follow_redirects=False,
    )
    assert waived.status_code == 303 and waived.headers["location"].endswith("?notice=waived")
    decisions = text_of(api.get("/projects/vision/decisions?q=parity").text)
    assert "Waive parity for churn-lr@2" in decisions and "Measured in the A/B test" in decisions

    api.cookies.clear()
    sign_in(api, "ada")
    token = csrf_of(api.get(f"/projects/vision/gates/{gate_id}").text)
    bare = api.post(
        f"/projects/vision/gates/{gate_id}/sign",
        data={"decision": "reject", "comment": "", "csrf_token": token},
    )
    assert bare.status_code == 422 and "a rejection needs a comment" in bare.text
    approved = api.post(
        f"/projects/vision/gates/{gate_id}/sign",
        data={"decision": "approve", "comment": "ok", "csrf_token": token},
        follow_redirects=False,
    )
    assert approved.status_code == 303 and approved.headers["location"].endswith("?notice=approved")
    gate = world.services.gates.get(world.services.owner, "vision", gate_id)
    assert gate.status.value == "open" and gate.waiting_for == []  # the checklist still fails
    assert [s.member for s in gate.signoffs] == ["ada"]


def test_gate_sign_in_a_browser(browser: Any, world: World, gate_id: str, serve: Any) -> None:
    with serve(create_app(services=world.services, allow_open=True)) as site:
        page = browser.new_page()
        sign_in_browser(page, site, "ada")
        page.goto(f"{site}/projects/vision")
        page.locator("table.gates").get_by_role("link", name="churn-lr version 2").click()
        page.wait_for_url(f"{site}/projects/vision/gates/{gate_id}")
        assert page.locator("#item-rollback-target .verdict-met").count() == 1  # @1 in production
        page.get_by_label("Sign-off comment").fill("Needs the A/B test first")
        page.get_by_role("button", name="Reject").click()
        page.wait_for_url(f"{site}/projects/vision/gates/{gate_id}?notice=rejected")
        assert page.get_by_role("status").inner_text().startswith("Your rejection is recorded")
        assert page.locator(".gate-status").inner_text() == "rejected"
        assert page.get_by_text("Needs the A/B test first").count() >= 1
        shot(page, "gate")


def test_criteria_raci_and_comments_from_the_web(
    world: World, api: TestClient, gate_id: str
) -> None:
    services, owner = world.services, world.services.owner
    api.cookies.clear()
    sign_in(api, "carl")  # compliance: edits criteria, not the RACI
    token = csrf_of(api.get("/projects/vision").text)
    form = {
        "key": "recall",
        "kind": "model",
        "check": "recall >= 0.5",
        "owner": "data-scientist",
        "csrf_token": token,
    }
    saved = api.post("/projects/vision/criteria", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert "recall" in [c.key for c in services.plan.list_criteria(owner, "vision")]
    bad = api.post("/projects/vision/criteria", data={**form, "check": "recall is good"})
    assert bad.status_code == 422 and "METRIC OP NUMBER" in bad.text
    deleted = api.post(
        "/projects/vision/criteria/recall/delete",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    assert "recall" not in [c.key for c in services.plan.list_criteria(owner, "vision")]
    refused = api.post(
        "/projects/vision/raci",
        data={"activity": "training", "assignments": "carl=A", "csrf_token": token},
    )
    assert refused.status_code == 403
    commented = api.post(
        "/projects/vision/comments",
        data={
            "target": f"gates/{gate_id}",
            "body": "@ada parity is waived in the A/B test",
            "back": f"/projects/vision/gates/{gate_id}",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert (
        commented.status_code == 303
        and commented.headers["location"] == f"/projects/vision/gates/{gate_id}#comments"
    )
    gate_page = api.get(f"/projects/vision/gates/{gate_id}")
    assert "parity is waived in the A/B test" in gate_page.text

    api.cookies.clear()
    sign_in(api, "ada")
    assert "carl mentioned you on gates/" in api.get("/account").text
    token = csrf_of(api.get("/projects/vision").text)
    row = api.post(
        "/projects/vision/raci",
        data={"activity": "training", "assignments": "ada=A carl=C", "csrf_token": token},
        follow_redirects=False,
    )
    assert row.status_code == 303
    assert services.plan.get_raci(owner, "vision").activities["training"] == {
        "ada": "A",
        "carl": "C",
    }
    no_a = api.post(
        "/projects/vision/raci",
        data={"activity": "training", "assignments": "ada=R", "csrf_token": token},
    )
    assert no_a.status_code == 422 and "0 accountable members" in no_a.text
    version = api.get("/projects/vision/models/churn-lr/versions/2")
    assert 'name="target" value="models/churn-lr@2"' in version.text  # comments on the version
