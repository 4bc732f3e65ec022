"""The delivery queue: PagerDuty Events v2 trigger and resolve with the alert's fingerprint as
the dedup key, a receiver that answers 500 or times out retried with exponential backoff and
its state visible, the outbound policy enforced, pages handed to the incidents domain."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alert_world import RUNBOOK, T0, M, S, World

from tandem.alerting.models import Alert, AlertSettingsUpdate
from tandem.alerting.service import FIRST_RETRY_MS, MAX_ATTEMPTS
from tandem.governance.notifications.models import WebhookSet

KEY = "R0UT1NGKEY0123456789abcdef012345"


def quick(world: World, **more: Any) -> None:
    world.alerts.set_settings(
        world.services.owner, "churn", AlertSettingsUpdate(group_wait="0s", **more)
    )


def test_a_page_triggers_pagerduty_and_its_recovery_resolves_it_with_the_same_dedup_key(
    world: World, pagerduty, receiver
) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    quick(world, pagerduty_routing_key=KEY, pagerduty_url=pagerduty.url)
    world.feed.add("errors", at=T0, severity="page", value=0.12)
    world.feed.add("drift", at=T0, severity="ticket", endpoint="staging")  # tickets do not page
    world.alerts.tick(world.worker, now=T0)
    assert world.alerts.deliver_due(world.worker, now=T0).sent == 3  # 2 webhook, 1 PagerDuty
    page = next(a for a in world.alerts.list_alerts(owner, "churn") if a.name == "errors")
    [trigger] = pagerduty.bodies()
    assert trigger["routing_key"] == KEY
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == page.fingerprint
    payload = trigger["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "churn: errors on prod = 0.12 (drifted_share >= 0.25)"
    assert payload["source"] == "tandem/churn/prod"
    details = payload["custom_details"]
    assert details["alert"] == page.id and details["runbook"] == RUNBOOK
    assert details["labels"] == {"alertname": "errors", "endpoint": "prod", "severity": "page"}
    assert {"href": RUNBOOK, "text": "runbook"} in trigger["links"]

    # recovery: one resolve, the same dedup key; the webhook hears of it too
    world.feed.add("errors", at=T0 + 5 * M, breached=False, severity="page")
    summary = world.alerts.tick(world.worker, now=T0 + 5 * M)
    assert summary.resolved == 1
    world.alerts.deliver_due(world.worker, now=T0 + 5 * M)
    assert pagerduty.bodies()[1:] == [
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": page.fingerprint}
    ]
    resolved = world.alerts.get_alert(owner, "churn", page.id)
    assert (resolved.state.value, resolved.ends_at) == ("resolved", T0 + 5 * M)
    assert any(b["text"].startswith("[RESOLVED:1]") for b in receiver.bodies())
    kinds = [
        (d.channel.value, d.kind.value, d.state.value)
        for d in world.alerts.list_deliveries(owner, "churn", alert=page.id)
    ]
    assert ("pagerduty", "trigger", "sent") in kinds and ("pagerduty", "resolve", "sent") in kinds


def test_an_acknowledged_page_is_acknowledged_on_pagerduty(world: World, pagerduty) -> None:
    owner = world.services.owner
    quick(world, pagerduty_routing_key=KEY, pagerduty_url=pagerduty.url)
    world.feed.add("errors", at=T0, severity="page")
    world.alerts.tick(world.worker, now=T0)
    [page] = world.alerts.list_alerts(owner, "churn")
    world.alerts.ack(world.people["bob"], "churn", page.id, "rolling back")
    world.alerts.deliver_due(world.worker, now=time.time_ns() // 1_000_000)
    assert [b["event_action"] for b in pagerduty.bodies()] == ["trigger", "acknowledge"]
    assert pagerduty.bodies()[1]["dedup_key"] == page.fingerprint


def test_a_receiver_answering_500_is_retried_with_backoff_and_its_state_is_visible(
    world: World, receiver
) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    quick(world)
    receiver.answers = [500]
    world.feed.add(at=T0)
    world.alerts.tick(world.worker, now=T0)

    summary = world.alerts.deliver_due(world.worker, now=T0)
    assert (summary.sent, summary.retrying, summary.failed) == (0, 1, 0)
    [webhook] = world.alerts.list_deliveries(owner, "churn", state="pending")
    assert webhook.attempts == 1
    assert webhook.last_error == "answered HTTP 500"
    assert webhook.next_attempt_at == T0 + FIRST_RETRY_MS

    # the evaluation goes on meanwhile: a new breach is raised at once
    world.feed.add("contract", at=T0 + 10 * S)
    assert world.alerts.tick(world.worker, now=T0 + 10 * S).new_firing == 1

    # the failed message is not due before its time; the new alert's is sent
    summary = world.alerts.deliver_due(world.worker, now=T0 + 10 * S)
    assert (summary.sent, summary.retrying) == (1, 0)
    # then the backoff doubles
    receiver.answers = [500]
    world.alerts.deliver_due(world.worker, now=T0 + FIRST_RETRY_MS)
    again = next(d for d in world.alerts.list_deliveries(owner, "churn") if d.id == webhook.id)
    assert (again.state.value, again.attempts) == ("pending", 2)
    assert again.next_attempt_at == T0 + FIRST_RETRY_MS + 2 * FIRST_RETRY_MS
    world.alerts.deliver_due(world.worker, now=T0 + 3 * FIRST_RETRY_MS)
    done = next(d for d in world.alerts.list_deliveries(owner, "churn") if d.id == webhook.id)
    assert (done.state.value, done.attempts, done.sent_at) == ("sent", 3, T0 + 3 * FIRST_RETRY_MS)
    assert done.next_attempt_at is None
    assert [r["status"] for r in receiver.received if "alertname=drift" in r["body"]["text"]] == [
        500, 500, 200,
    ]  # fmt: skip


def test_a_receiver_that_times_out_is_retried_and_finally_given_up(world: World, receiver) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    quick(world)
    receiver.delay = 1.0  # the service waits 0.5 s
    world.feed.add(at=T0)
    world.alerts.tick(world.worker, now=T0)
    world.alerts.deliver_due(world.worker, now=T0)
    [slow] = world.alerts.list_deliveries(owner, "churn", state="pending")
    assert slow.last_error is not None and slow.last_error.startswith("timed out after 0.5 s")
    receiver.delay = 0.0
    receiver.status = 503
    now = T0
    for _ in range(MAX_ATTEMPTS - 1):
        [pending] = world.alerts.list_deliveries(owner, "churn", state="pending")
        assert pending.next_attempt_at is not None
        now = pending.next_attempt_at
        world.alerts.deliver_due(world.worker, now=now)
    [failed] = world.alerts.list_deliveries(owner, "churn", state="failed")
    assert (failed.attempts, failed.last_error) == (MAX_ATTEMPTS, "answered HTTP 503")
    assert world.alerts.list_deliveries(owner, "churn", state="pending") == []
    audit = world.services.audit.list(owner, project="churn", action="alert.deliver")
    assert [(e.outcome, e.actor) for e in audit.items] == [("failed", "system:worker")]


def test_a_client_error_is_not_retried(world: World, pagerduty) -> None:
    owner = world.services.owner
    quick(world, pagerduty_routing_key=KEY, pagerduty_url=pagerduty.url)
    pagerduty.answers = [400]  # PagerDuty's answer to a bad routing key or body
    world.feed.add("errors", at=T0, severity="page")
    world.alerts.tick(world.worker, now=T0)
    assert world.alerts.deliver_due(world.worker, now=T0).failed == 1
    [failed] = world.alerts.list_deliveries(owner, "churn", state="failed")
    assert (failed.channel.value, failed.attempts) == ("pagerduty", 1)


def test_the_outbound_policy_is_enforced_at_delivery(world: World, services) -> None:
    """A webhook allowed when set but refused when sent (the workspace's allowlist changed):
    the delivery fails at once, naming the policy; nothing is retried."""
    from tandem.core.outbound import OutboundPolicy

    owner = services.owner
    services.notifier.set_webhook(owner, "churn", WebhookSet(url="http://127.0.0.1:9/hook"))
    quick(world)
    world.feed.add(at=T0)
    world.alerts.tick(world.worker, now=T0)
    services.alerts.outbound = OutboundPolicy(())  # the admin took loopback off the allowlist
    assert world.alerts.deliver_due(world.worker, now=T0).failed == 1
    [failed] = world.alerts.list_deliveries(owner, "churn", state="failed")
    assert failed.last_error is not None and "not a public address (loopback)" in failed.last_error


class Pages:
    """The incidents domain's side, as tandem.incidents implements it: records its pages."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None, Alert]] = []

    def on_page(self, conn: Any, project_pk: int, endpoint: str | None, alert: Alert) -> int:
        self.calls.append((project_pk, endpoint, alert))
        return 1  # the incident's number


def test_a_page_is_handed_to_the_incidents_domain_once(world: World) -> None:
    owner = world.services.owner
    pages = Pages()
    world.alerts.use_page_handler(pages)
    quick(world)
    world.feed.add("errors", at=T0, severity="page")
    world.feed.add("drift", at=T0, severity="ticket")
    assert world.alerts.tick(world.worker, now=T0).pages == 1
    [(_, endpoint, alert)] = pages.calls
    assert (endpoint, alert.name, alert.severity.value, alert.state.value) == (
        "prod", "errors", "page", "firing",
    )  # fmt: skip
    assert world.alerts.get_alert(owner, "churn", alert.id).incident == "churn/incidents/1"
    world.feed.add("errors", at=T0 + M, severity="page")
    assert world.alerts.tick(world.worker, now=T0 + M).pages == 0  # still the same alert
    assert len(pages.calls) == 1


def test_a_failing_page_handler_does_not_lose_the_alert(world: World) -> None:
    class Broken:
        def on_page(self, conn: Any, project_pk: int, endpoint: str | None, alert: Alert) -> str:
            from sqlalchemy import text

            conn.execute(text("SELECT * FROM no_such_table"))
            return "never"

    world.alerts.use_page_handler(Broken())
    quick(world)
    world.feed.add("errors", at=T0, severity="page")
    summary = world.alerts.tick(world.worker, now=T0)
    assert (summary.new_firing, summary.pages) == (1, 0)
    [alert] = world.alerts.list_alerts(world.services.owner, "churn")
    assert (alert.state.value, alert.incident) == ("firing", None)


@pytest.mark.parametrize("severity", ["ticket", "info"])
def test_a_page_inhibits_the_lesser_alerts_of_its_endpoint(world: World, severity: str) -> None:
    owner = world.services.owner
    quick(world)
    world.feed.add("errors", at=T0, severity="page")
    world.feed.add("drift", at=T0, severity=severity)
    world.feed.add("drift", at=T0, severity=severity, endpoint="staging")
    world.alerts.tick(world.worker, now=T0)
    shown = {(a.name, a.endpoint): a for a in world.alerts.list_alerts(owner, "churn", now=T0)}
    assert shown[("drift", "prod")].inhibited
    assert not shown[("drift", "staging")].inhibited
    assert not shown[("errors", "prod")].inhibited
    assert {n.message.split(" is ")[0] for n in world.inbox("alice")} == {"alert drift on staging"}
