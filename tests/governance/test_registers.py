"""Hypotheses, the risk register, retrospectives and action items, comments with mentions,
notifications (in tandem and to a real webhook on loopback, as Slack-compatible JSON), and
the activity feed: through the service layer and the REST API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
from governance_world import Hook, Team
from starlette.testclient import TestClient

from tandem.core.config import Settings
from tandem.errors import InvalidInput, NotFound, PermissionDenied
from tandem.governance.gates.models import GateOpen
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.registers.models import (
    ActionItemCreate,
    ActionStatus,
    CommentCreate,
    HypothesisPatch,
    HypothesisSet,
    RetroCreate,
    RiskPatch,
    RiskSet,
)
from tandem.registry.models import Stage
from tandem.server.app import create_app


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The webhook receivers here run on loopback, which the outbound policy refuses unless
    the workspace allows it (tests/security/test_outbound.py checks the refusals)."""
    return replace(settings, outbound_allow_hosts=("127.0.0.1",))


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


def test_hypotheses_log_with_evidence(team: Team) -> None:
    reg, p = team.services.registers, team.principals
    h = reg.add_hypothesis(
        p["pm"],
        "churn",
        HypothesisSet(
            statement="Contract type predicts churn",
            metric="roc_auc",
            expected_effect="+0.03",
            owner="ds",
        ),
    )
    assert (h.number, h.status.value, h.created_by) == (1, "open", "pm")
    changed = h.model_dump(include=set(HypothesisSet.model_fields)) | {
        "status": "supported",
        "links": ["evaluations/5f0c"],
    }
    updated = reg.update_hypothesis(p["ds"], "churn", 1, HypothesisSet.model_validate(changed))
    assert updated.status.value == "supported" and updated.links == ["evaluations/5f0c"]
    assert [x.number for x in reg.list_hypotheses(p["viewer"], "churn")] == [1]
    with pytest.raises(PermissionDenied):
        reg.add_hypothesis(p["viewer"], "churn", HypothesisSet(statement="x", owner="viewer"))
    with pytest.raises(InvalidInput, match="owner 'stranger' is not a member"):
        reg.add_hypothesis(p["pm"], "churn", HypothesisSet(statement="x", owner="stranger"))
    with pytest.raises(InvalidInput, match="is not a reference"):
        reg.add_hypothesis(
            p["pm"], "churn", HypothesisSet(statement="x", owner="pm", links=["../../etc/passwd"])
        )
    with pytest.raises(NotFound, match="no hypothesis 9"):
        reg.update_hypothesis(p["pm"], "churn", 9, HypothesisSet(statement="x", owner="pm"))
    assert len(reg.list_hypotheses(p["pm"], "churn")) == 1


def test_risk_register_flags_overdue_reviews_first(team: Team) -> None:
    reg, p = team.services.registers, team.principals
    today = dt.datetime.now(dt.UTC).date()
    later = reg.add_risk(
        p["comp"],
        "churn",
        RiskSet(
            description="Drift after the price change",
            owner="mle",
            review_date=today + dt.timedelta(days=30),
        ),
    )
    overdue = reg.add_risk(
        p["pm"],
        "churn",
        RiskSet(
            description="Holdout misses new customers",
            likelihood="high",
            impact="high",
            owner="ds",
            review_date=today - dt.timedelta(days=1),
        ),
    )
    listed = reg.list_risks(p["viewer"], "churn")
    assert [r.number for r in listed] == [overdue.number, later.number]
    assert listed[0].overdue and not listed[1].overdue
    closed = RiskSet.model_validate(
        overdue.model_dump(include=set(RiskSet.model_fields))
        | {"status": "mitigated", "mitigation": "New-customer slice added"}
    )
    reg.update_risk(p["ds"], "churn", overdue.number, closed)
    assert [r.number for r in reg.list_risks(p["viewer"], "churn", open_only=True)] == [
        later.number
    ]
    assert not reg.list_risks(p["viewer"], "churn")[1].overdue  # mitigated: nothing to review


def test_a_patch_changes_only_what_it_names(team: Team) -> None:
    """Two people changing different fields of the same entry keep both changes: the patch is
    applied to the stored entry in the write transaction, not to what the caller read."""
    reg, p = team.services.registers, team.principals
    risk = reg.add_risk(p["pm"], "churn", RiskSet(description="Label leakage", owner="ds"))
    reg.update_risk(p["ds"], "churn", risk.number, RiskPatch(mitigation="Drop post-churn fields"))
    reg.update_risk(p["mle"], "churn", risk.number, RiskPatch(status="mitigated"))
    stored = reg.list_risks(p["viewer"], "churn")[0]
    assert (stored.mitigation, stored.status.value) == ("Drop post-churn fields", "mitigated")
    assert (stored.description, stored.owner) == ("Label leakage", "ds")

    h = reg.add_hypothesis(
        p["ds"], "churn", HypothesisSet(statement="Tenure helps", owner="ds", links=["runs/a"])
    )
    patched = reg.update_hypothesis(
        p["ds"], "churn", h.number, HypothesisPatch(add_links=["runs/b", "runs/a", "runs/b"])
    )
    assert patched.links == ["runs/a", "runs/b"] and patched.statement == "Tenure helps"
    patched = reg.update_hypothesis(p["ds"], "churn", h.number, HypothesisPatch(status="refuted"))
    assert patched.status.value == "refuted" and patched.links == ["runs/a", "runs/b"]

    with pytest.raises(NotFound):
        reg.update_risk(p["ds"], "churn", 99, RiskPatch(status="closed"))
    with pytest.raises(InvalidInput):  # the merged entry is checked as a whole
        reg.update_risk(p["ds"], "churn", risk.number, RiskPatch(owner="nobody-here"))
    with pytest.raises(PermissionDenied):
        reg.update_risk(p["viewer"], "churn", risk.number, RiskPatch(status="closed"))
    assert reg.list_risks(p["viewer"], "churn")[0].status.value == "mitigated"


def test_retrospective_action_items_reach_their_owners(team: Team, hook: Hook) -> None:
    reg, p, notifier = team.services.registers, team.principals, team.services.notifier
    notifier.set_webhook(p["padmin"], "churn", WebhookSet(url=hook.url))
    retro = RetroCreate(
        title="v3 release",
        format="4ls",
        entries={"liked": ["Gates caught the parity gap"], "lacked": ["A new-customer slice"]},
        action_items=[
            ActionItemCreate(
                title="Add a new-customer slice", owner="ds", due=dt.date(2030, 1, 31)
            ),
            ActionItemCreate(title="Write the rollback runbook", owner="viewer"),
        ],
    )
    made = reg.add_retrospective(p["pm"], "churn", retro)
    assert made.action_items == [1, 2] and made.entries["learned"] == []
    with pytest.raises(
        InvalidInput, match="has sections liked, learned, lacked, longed-for, not start"
    ):
        reg.add_retrospective(
            p["pm"], "churn", RetroCreate(title="x", format="4ls", entries={"start": ["y"]})
        )
    assert [a.title for a in reg.my_actions(p["ds"])] == ["Add a new-customer slice"]
    mine = notifier.mine(p["ds"], unread=True)
    assert mine[0].kind == "action-item" and "gave you action item A1 in churn" in mine[0].message
    assert any("@ds: pm gave you action item A1" in m["text"] for m in hook.received)
    assert any("@viewer: pm gave you action item A2" in m["text"] for m in hook.received)
    # an owner closes their own item even as a viewer; someone else needs plan:write
    with pytest.raises(PermissionDenied):
        reg.set_action_status(p["viewer"], "churn", 1, ActionStatus.DONE)
    assert reg.set_action_status(p["viewer"], "churn", 2, ActionStatus.DONE).done_by == "viewer"
    assert reg.set_action_status(p["pm"], "churn", 1, ActionStatus.DONE).status is ActionStatus.DONE
    assert reg.my_actions(p["ds"]) == [] and reg.list_actions(p["pm"], "churn") == []
    assert notifier.mark_read(p["ds"]) == 1 and notifier.mine(p["ds"], unread=True) == []


def test_mentions_notify_members_only(team: Team) -> None:
    reg, p, notifier = team.services.registers, team.principals, team.services.notifier
    comment = reg.add_comment(
        p["ds"],
        "churn",
        CommentCreate(
            target="models/churn-gbm@3",
            body="@pm @mle please check; @nobody and email@ds.com are not mentions",
        ),
    )
    assert comment.mentions == ["mle", "pm"]
    assert [c.body[:4] for c in reg.list_comments(p["viewer"], "churn", "models/churn-gbm@3")] == [
        "@pm "
    ]
    assert "ds mentioned you on models/churn-gbm@3" in notifier.mine(p["pm"])[0].message
    assert notifier.mine(p["ds"]) == []  # the author is not told about their own comment
    with pytest.raises(PermissionDenied):
        reg.add_comment(p["viewer"], "churn", CommentCreate(target="models/churn-gbm@3", body="hi"))
    with pytest.raises(InvalidInput, match="is not a reference"):
        reg.add_comment(p["pm"], "churn", CommentCreate(target="/etc/passwd", body="x"))


def test_webhook_settings_are_checked(team: Team) -> None:
    notifier, p = team.services.notifier, team.principals
    with pytest.raises(InvalidInput, match="must be an http"):
        notifier.set_webhook(p["padmin"], "churn", WebhookSet(url="file:///etc/passwd"))
    with pytest.raises(PermissionDenied):
        notifier.set_webhook(p["pm"], "churn", WebhookSet(url="https://hooks.example.com/x"))
    assert notifier.webhook(p["padmin"], "churn").url == ""
    # an unreachable webhook never fails the change that notifies
    notifier.set_webhook(p["padmin"], "churn", WebhookSet(url="http://127.0.0.1:9/hook"))
    team.services.registers.add_action(p["pm"], "churn", ActionItemCreate(title="t", owner="ds"))
    assert team.services.notifier.mine(p["ds"])[0].kind == "action-item"


def test_gate_opening_asks_the_accountable_member(release: Team, hook: Hook) -> None:
    p = release.principals
    release.services.notifier.set_webhook(p["padmin"], "churn", WebhookSet(url=hook.url))
    gate = release.services.gates.open(
        p["mle"], "churn", GateOpen(model="churn-lr@1", to=Stage.READY_FOR_REVIEW)
    )
    told = release.services.notifier.mine(p["ds"])
    assert told[0].kind == "sign-off" and told[0].link == f"/projects/churn/gates/{gate.id}"
    assert told[0].message == "your sign-off is needed on churn-lr@1 -> ready-for-review"
    assert hook.received[-1] == {
        "text": "@ds: your sign-off is needed on churn-lr@1 -> ready-for-review "
        f"(/projects/churn/gates/{gate.id})"
    }


def test_activity_feed_for_members(team: Team) -> None:
    services, p = team.services, team.principals
    services.registers.add_risk(p["pm"], "churn", RiskSet(description="r", owner="pm"))
    with pytest.raises(PermissionDenied):
        services.registers.add_risk(p["viewer"], "churn", RiskSet(description="r", owner="pm"))
    feed = services.audit.activity(p["viewer"], "churn", limit=2)
    first = feed.items[0]
    assert (first.actor, first.action, first.target) == (
        "pm",
        "risk.create",
        "churn/risks/1",
    )
    assert all(a.action != "access.denied" for a in feed.items)
    assert feed.next_cursor is not None
    older = services.audit.activity(p["viewer"], "churn", cursor=feed.next_cursor, limit=100)
    assert older.items and older.items[0].id < feed.items[-1].id


def test_rest_registers(team: Team) -> None:
    api = TestClient(create_app(services=team.services), base_url="http://127.0.0.1")
    bad = api.post(
        "/api/v1/projects/churn/risks",
        json={"description": "d", "owner": "pm", "impact": "huge"},
        headers=team.auth("pm"),
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    made = api.post(
        "/api/v1/projects/churn/actions",
        json={"title": "t", "owner": "viewer"},
        headers=team.auth("pm"),
    )
    assert made.status_code == 201
    mine = api.get("/api/v1/me/actions", headers=team.auth("viewer")).json()
    assert [a["title"] for a in mine] == ["t"]
    done = api.post("/api/v1/projects/churn/actions/1/done", headers=team.auth("viewer"))
    assert done.status_code == 200 and done.json()["status"] == "done"
    feed = api.get("/api/v1/projects/churn/activity", headers=team.auth("viewer")).json()
    assert feed["items"][0]["action"] == "action.done" and "details" not in feed["items"][0]
    told = api.get("/api/v1/me/notifications", headers=team.auth("viewer")).json()
    assert told[0]["kind"] == "action-item"
    assert api.post("/api/v1/me/notifications/read", headers=team.auth("viewer")).json() == {
        "marked": 1
    }
