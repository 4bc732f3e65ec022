"""Monitor results become alerts, routed by the RACI, escalated, silenced, acknowledged; the
engine's state survives between ticks in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from alert_world import RUNBOOK, T0, M, S, World

from tandem.alerting.models import AlertSettingsUpdate, SilenceCreate
from tandem.errors import Conflict, InvalidInput, PermissionDenied
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.plan.models import RaciLetter


def quick(world: World, **more: str) -> None:
    """No group wait: a firing alert is notified at the tick that sees it."""
    world.alerts.set_settings(
        world.services.owner, "churn", AlertSettingsUpdate(group_wait="0s", **more)
    )


def test_a_breach_fires_and_reaches_the_responsible_in_the_app_and_on_the_webhook(
    world: World, receiver
) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    quick(world)
    world.feed.add(at=T0)
    summary = world.alerts.tick(world.worker, now=T0)
    assert (summary.results, summary.new_firing, summary.firing, summary.queued) == (1, 1, 1, 1)

    [alert] = world.alerts.list_alerts(owner, "churn")
    assert (alert.name, alert.endpoint, alert.state.value, alert.severity.value) == (
        "drift", "prod", "firing", "ticket",
    )  # fmt: skip
    assert alert.recipients == ["alice"]  # Responsible for monitoring
    assert alert.labels == {"alertname": "drift", "endpoint": "prod", "severity": "ticket"}
    assert alert.annotations["runbook_url"] == RUNBOOK
    [note] = world.inbox("alice")
    assert note.kind == "alert" and note.link == "/projects/churn/endpoints/prod"
    assert "drift on prod is firing" in note.message
    assert world.inbox("carol") == [] and world.inbox("bob") == []

    # the webhook message is queued; deliver_due sends it
    queued = world.alerts.list_deliveries(owner, "churn", state="pending")
    assert [(d.channel.value, d.kind.value, d.target) for d in queued] == [
        ("webhook", "trigger", "127.0.0.1")
    ]
    assert world.alerts.deliver_due(world.worker, now=T0).sent == 1
    [post] = receiver.bodies()
    assert list(post) == ["text"]
    assert post["text"].startswith("[FIRING:1] churn: alertname=drift, endpoint=prod → @alice")
    assert RUNBOOK in post["text"]
    assert "endpoint: /projects/churn/endpoints/prod" in post["text"]
    assert "= 0.31" in post["text"]
    [sent] = world.alerts.list_deliveries(owner, "churn", state="sent", alert=alert.id)[:1]
    assert (sent.channel.value, sent.attempts, sent.sent_at) == ("webhook", 1, T0)

    # the same breach at the next window: no second notification before repeat_interval
    world.feed.add(at=T0 + 5 * M)
    assert world.alerts.tick(world.worker, now=T0 + 5 * M).queued == 0
    assert world.alerts.deliver_due(world.worker, now=T0 + 5 * M).sent == 0
    assert len(world.inbox("alice")) == 1
    # a tick with no new results still runs the engine (and reads nothing twice)
    assert world.alerts.tick(world.worker, now=T0 + 6 * M).results == 0


def test_for_keeps_a_breach_pending_until_it_has_held_long_enough(world: World) -> None:
    owner = world.services.owner
    quick(world)
    world.feed.add(at=T0, for_s=600)
    world.alerts.tick(world.worker, now=T0)
    [alert] = world.alerts.list_alerts(owner, "churn")
    assert alert.state.value == "pending" and alert.recipients == []
    assert world.inbox("alice") == []
    world.feed.add(at=T0 + 10 * M, for_s=600)
    assert world.alerts.tick(world.worker, now=T0 + 10 * M).new_firing == 1
    [alert] = world.alerts.list_alerts(owner, "churn")
    assert (alert.state.value, alert.starts_at, alert.fired_at) == ("firing", T0, T0 + 10 * M)
    assert len(world.inbox("alice")) == 1
    # a pending alert whose breach clears is dropped, as Prometheus drops it
    world.feed.add("latency", at=T0 + 11 * M, for_s=600)
    world.alerts.tick(world.worker, now=T0 + 11 * M)
    assert {a.name for a in world.alerts.list_alerts(owner, "churn")} == {"drift", "latency"}
    world.feed.add("latency", at=T0 + 12 * M, breached=False, for_s=600)
    world.alerts.tick(world.worker, now=T0 + 12 * M)
    assert [a.name for a in world.alerts.list_alerts(owner, "churn")] == ["drift"]


def test_a_page_goes_to_incident_response_then_to_the_accountable(world: World) -> None:
    owner = world.services.owner
    quick(world)
    world.feed.add("errors", at=T0, severity="page")
    world.alerts.tick(world.worker, now=T0)
    [alert] = world.alerts.list_alerts(owner, "churn")
    assert alert.recipients == ["bob"]  # Responsible for incident-response
    assert [n.kind for n in world.inbox("bob")] == ["alert"]

    # nobody Responsible: the Accountable hears of it
    world.services.plan.set_raci_activity(
        owner, "churn", "incident-response", {"carol": RaciLetter.ACCOUNTABLE}
    )
    world.feed.add("errors", at=T0 + M, severity="page", endpoint="staging")
    world.alerts.tick(world.worker, now=T0 + M)
    [newest, _] = world.alerts.list_alerts(owner, "churn")
    assert (newest.endpoint, newest.recipients) == ("staging", ["carol"])

    # no incident-response row at all: monitoring's Responsible
    world.services.plan.remove_raci_activity(owner, "churn", "incident-response")
    world.feed.add("errors", at=T0 + 2 * M, severity="page", endpoint="canary")
    world.alerts.tick(world.worker, now=T0 + 2 * M)
    assert world.alerts.list_alerts(owner, "churn")[0].recipients == ["alice"]


def test_an_unacknowledged_alert_escalates_to_the_accountable_once(world: World, receiver) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    quick(world, escalate_after="10m")
    world.feed.add("drift", at=T0)
    world.feed.add("contract", at=T0)
    world.alerts.tick(world.worker, now=T0)
    contract, drift = sorted(world.alerts.list_alerts(owner, "churn"), key=lambda a: a.name)
    acked = world.alerts.ack(world.people["alice"], "churn", contract.id, "on it")
    assert (acked.acked_by, acked.escalated_at) == ("alice", None)

    assert world.alerts.tick(world.worker, now=T0 + 10 * M - S).escalated == 0
    assert world.inbox("carol") == []
    assert world.alerts.tick(world.worker, now=T0 + 10 * M).escalated == 1
    [note] = world.inbox("carol")
    assert note.kind == "alert-escalation" and "drift" in note.message
    assert world.alerts.get_alert(owner, "churn", drift.id).escalated_at == T0 + 10 * M
    assert world.alerts.get_alert(owner, "churn", contract.id).escalated_at is None
    world.alerts.deliver_due(world.worker, now=T0 + 10 * M)
    escalations = [b["text"] for b in receiver.bodies() if b["text"].startswith("[ESCALATED]")]
    assert len(escalations) == 1
    assert "drift has fired for 10 min and nobody acknowledged it → @carol" in escalations[0]
    # once only
    assert world.alerts.tick(world.worker, now=T0 + 30 * M).escalated == 0
    assert len(world.inbox("carol")) == 1


def test_escalation_counts_from_the_first_notification_not_from_the_breach(world: World) -> None:
    """Under a controllable clock: an alert held back by `group_wait`, or by a silence, has not
    asked anyone to acknowledge it yet; `escalate_after` starts when the responders hear of it."""
    owner = world.services.owner
    world.alerts.set_settings(
        owner, "churn", AlertSettingsUpdate(group_wait="5m", group_interval="1m",
                                            escalate_after="10m"),
    )  # fmt: skip
    world.alerts.create_silence(
        world.people["alice"], "churn",
        SilenceCreate(matchers=["endpoint=staging"], duration="30m", comment="migrating"),
        now=T0,
    )  # fmt: skip
    world.feed.add(at=T0)  # prod: fires now, notified after group_wait
    world.feed.add(at=T0, endpoint="staging")  # silenced until T0 + 30 min
    world.alerts.tick(world.worker, now=T0)
    alerts = {a.endpoint: a for a in world.alerts.list_alerts(owner, "churn", now=T0)}
    assert (alerts["prod"].fired_at, alerts["prod"].notified_at) == (T0, None)

    world.alerts.tick(world.worker, now=T0 + 5 * M)  # group_wait is over: alice hears of prod
    prod = world.alerts.get_alert(owner, "churn", alerts["prod"].id)
    assert prod.notified_at == T0 + 5 * M
    # ten minutes after the breach, five after alice heard of it: not yet
    assert world.alerts.tick(world.worker, now=T0 + 10 * M).escalated == 0
    assert world.alerts.tick(world.worker, now=T0 + 15 * M - S).escalated == 0
    assert world.inbox("carol") == []
    assert world.alerts.tick(world.worker, now=T0 + 15 * M).escalated == 1
    [note] = world.inbox("carol")
    assert note.kind == "alert-escalation" and "drift" in note.message
    assert world.alerts.get_alert(owner, "churn", prod.id).escalated_at == T0 + 15 * M

    # staging fired at T0 but was silenced: notified when the silence ends, escalated 10 min on
    world.feed.add(at=T0 + 31 * M, endpoint="staging")
    world.alerts.tick(world.worker, now=T0 + 31 * M)
    staging = world.alerts.get_alert(owner, "churn", alerts["staging"].id)
    assert (staging.fired_at, staging.notified_at, staging.escalated_at) == (T0, T0 + 31 * M, None)
    assert world.alerts.tick(world.worker, now=T0 + 41 * M - S).escalated == 0
    assert world.alerts.tick(world.worker, now=T0 + 41 * M).escalated == 1
    assert len(world.inbox("carol")) == 2


def test_ack_rules(world: World) -> None:
    owner = world.services.owner
    quick(world)
    world.feed.add(at=T0)
    world.alerts.tick(world.worker, now=T0)
    [alert] = world.alerts.list_alerts(owner, "churn")
    with pytest.raises(PermissionDenied):
        world.alerts.ack(world.people["vic"], "churn", alert.id)  # a viewer may not respond
    world.alerts.ack(world.people["carol"], "churn", alert.id)
    with pytest.raises(Conflict, match="acknowledged by carol already"):
        world.alerts.ack(world.people["alice"], "churn", alert.id)
    world.feed.add(at=T0 + M, breached=False)
    world.alerts.tick(world.worker, now=T0 + M)
    assert world.alerts.get_alert(owner, "churn", alert.id).state.value == "resolved"
    with pytest.raises(PermissionDenied):
        world.alerts.tick(world.people["alice"], now=T0)  # only the worker (or the owner) ticks


def test_a_silence_mutes_matching_alerts_until_it_ends(world: World) -> None:
    owner = world.services.owner
    alice = world.people["alice"]
    quick(world, group_interval="1m")
    silence = world.alerts.create_silence(
        alice, "churn",
        SilenceCreate(matchers=["endpoint=prod"], duration="1h", comment="retraining"),
        now=T0,
    )  # fmt: skip
    assert (silence.author, silence.ends_at, silence.active) == ("alice", T0 + 60 * M, True)
    world.feed.add(at=T0)
    world.feed.add(at=T0, endpoint="staging")
    world.alerts.tick(world.worker, now=T0)
    alerts = {a.endpoint: a for a in world.alerts.list_alerts(owner, "churn", now=T0)}
    assert alerts["prod"].silenced_by == [silence.id]
    assert alerts["staging"].silenced_by == []
    [note] = world.inbox("alice")
    assert "staging" in note.message  # only the alert that is not silenced

    # the silence ends: the next flush notifies the alert still firing
    world.feed.add(at=T0 + 61 * M)
    world.feed.add(at=T0 + 61 * M, endpoint="staging")
    world.alerts.tick(world.worker, now=T0 + 61 * M)
    assert world.inbox("alice")[0].message.startswith("alert drift on prod")


def test_silences_need_an_expiry_and_real_matchers(world: World) -> None:
    alice = world.people["alice"]
    with pytest.raises(InvalidInput, match="needs an expiry"):
        world.alerts.create_silence(
            alice, "churn", SilenceCreate(matchers=["endpoint=prod"], comment="x")
        )
    with pytest.raises(InvalidInput, match="expected name=value"):
        world.alerts.create_silence(
            alice, "churn", SilenceCreate(matchers=["endpoint~~prod"], duration="1h", comment="x")
        )
    with pytest.raises(InvalidInput, match="silence every alert"):
        world.alerts.create_silence(
            alice, "churn", SilenceCreate(matchers=["team=~.*"], duration="1h", comment="x")
        )
    with pytest.raises(InvalidInput, match="not a duration"):
        world.alerts.create_silence(
            alice, "churn", SilenceCreate(matchers=["endpoint=prod"], duration="soon", comment="x")
        )
    with pytest.raises(PermissionDenied):
        world.alerts.create_silence(
            world.people["vic"], "churn",
            SilenceCreate(matchers=["endpoint=prod"], duration="1h", comment="x"),
        )  # fmt: skip
    assert world.alerts.list_silences(alice, "churn", all=True) == []  # nothing half-written
    made = world.alerts.create_silence(
        alice, "churn", SilenceCreate(matchers=["endpoint=prod"], duration="1h", comment="x")
    )
    ended = world.alerts.expire_silence(alice, "churn", made.id)
    assert (ended.active, ended.expired_by) == (False, "alice")
    assert world.alerts.list_silences(alice, "churn") == []
    with pytest.raises(Conflict):
        world.alerts.expire_silence(alice, "churn", made.id)


def test_malformed_settings_are_refused_and_nothing_changes(world: World) -> None:
    owner = world.services.owner
    before = world.alerts.get_settings(owner, "churn")
    bad = [
        (AlertSettingsUpdate(group_wait="soon"), "not a duration"),
        (AlertSettingsUpdate(group_by=["endpoint", "bad-label"]), "not a label name"),
        (AlertSettingsUpdate(escalate_after="5s"), "escalate_after must be between"),
        (AlertSettingsUpdate(pagerduty_routing_key="not a key!"), "letters and digits"),
        (AlertSettingsUpdate(pagerduty_url="ftp://events.example.com"), "http"),
        (AlertSettingsUpdate(pagerduty_url="http://10.1.2.3/v2/enqueue"), "not a public address"),
        (AlertSettingsUpdate(group_wait="1m", repeat_interval="1x"), "not a duration"),
    ]
    for update, message in bad:
        with pytest.raises(InvalidInput, match=message):
            world.alerts.set_settings(owner, "churn", update)
    assert world.alerts.get_settings(owner, "churn") == before
    with pytest.raises(PermissionDenied):
        world.alerts.set_settings(world.people["vic"], "churn", AlertSettingsUpdate())
    good = world.alerts.set_settings(
        world.people["alice"], "churn",
        AlertSettingsUpdate(group_by=["alertname"], group_wait="1m30s",
                            pagerduty_routing_key="R0UT1NGKEY0123456789abcdef012345"),
    )  # fmt: skip
    assert (good.group_by, good.group_wait_s, good.pagerduty_routing_key) == (
        ["alertname"], 90, "…2345",
    )  # fmt: skip
    assert good.updated_by == "alice"
