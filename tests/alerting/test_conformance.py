"""Conformance of the alert engine with Prometheus' alerting rules and Alertmanager.

Each scenario quotes, in its docstring, the sentence of the Prometheus documentation
(docs/configuration/alerting_rules.md) or the Alertmanager documentation (docs/configuration.md,
docs/alertmanager.md) it checks, and drives `step` with a controllable clock. Every tick goes
through `json.dumps`/`json.loads` of the state, as the service persists it between ticks.
Where the documentation leaves a detail open, the scenario follows Alertmanager's code
(dispatch/dispatch.go, notify/notify.go's DedupStage) and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pytest

from tandem.alerting.engine import (
    ALL_LABELS,
    Alert,
    AlertRule,
    AlertState,
    EngineConfig,
    EngineState,
    InhibitRule,
    Matcher,
    Notification,
    Observation,
    Route,
    Silence,
    fingerprint,
    parse_duration,
    route_alert,
    step,
)
from tandem.alerting.matchers import parse_matchers
from tandem.errors import InvalidInput

S = 1000
M = 60 * S
H = 60 * M


def obs(rule: str, active: bool = True, **labels: str) -> Observation:
    return Observation(rule, labels, active)


class Harness:
    """Drives `step` tick by tick, persisting the state as JSON text in between."""

    def __init__(
        self,
        rules: Iterable[AlertRule],
        route: Route | None = None,
        *,
        inhibit: Sequence[InhibitRule] = (),
        silences: Sequence[Silence] = (),
    ) -> None:
        self.config = EngineConfig.of(rules, route or Route(receiver="team"))
        self.inhibit = list(inhibit)
        self.silences = list(silences)
        self.stored = json.dumps(EngineState().to_json())
        self.sent: list[Notification] = []

    @property
    def state(self) -> EngineState:
        return EngineState.from_json(json.loads(self.stored))

    def tick(self, now: int, *observations: Observation) -> list[Notification]:
        new, notes = step(self.state, observations, self.silences, self.inhibit, self.config, now)
        self.stored = json.dumps(new.to_json())
        self.sent.extend(notes)
        return notes

    def run(self, start: int, stop: int, every: int, active: dict[str, bool]) -> None:
        """Evaluate each rule (no extra labels) every `every` ms in [start, stop)."""
        for now in range(start, stop, every):
            self.tick(now, *(obs(rule, on) for rule, on in active.items()))

    def alert(self, rule: str, **labels: str) -> AlertState | None:
        found = self.state.alerts.get(fingerprint({**labels, "alertname": rule}))
        return None if found is None else found.state


def names(alerts: Iterable[Alert]) -> list[str]:
    return [a.labels.get("instance", a.labels["alertname"]) for a in alerts]


# -- Prometheus alerting rules ---------------------------------------------------------------


def test_for_waits_before_firing() -> None:
    """Prometheus, alerting rules: "The optional `for` clause causes Prometheus to wait for a
    certain duration between first encountering a new expression output vector element and counting
    an alert as firing for this element." """
    h = Harness([AlertRule("HighErrorRate", for_ms=10 * M)])
    for now in range(0, 10 * M, M):
        h.tick(now, obs("HighErrorRate"))
        assert h.alert("HighErrorRate") is AlertState.PENDING
    h.tick(10 * M, obs("HighErrorRate"))
    assert h.alert("HighErrorRate") is AlertState.FIRING
    assert h.state.alerts[fingerprint({"alertname": "HighErrorRate"})].fired_at == 10 * M


def test_pending_alerts_are_not_notified() -> None:
    """Prometheus, alerting rules: "Elements that are active, but not firing yet, are in the
    **pending** state." A pending alert whose condition clears never fires and is never sent."""
    h = Harness([AlertRule("Flaky", for_ms=5 * M)], Route(receiver="team", group_wait_ms=0))
    for now in range(0, 4 * M, M):
        assert h.tick(now, obs("Flaky")) == []
    h.tick(4 * M, obs("Flaky", active=False))
    assert h.alert("Flaky") is None
    h.run(5 * M, 30 * M, M, {"Flaky": False})
    assert h.sent == []


def test_for_requires_activity_at_each_evaluation() -> None:
    """Prometheus, alerting rules: "Prometheus will check that the alert continues to be active
    during each evaluation for 10 minutes before firing the alert." One inactive evaluation restarts
    the clock."""
    h = Harness([AlertRule("Latency", for_ms=10 * M)])
    h.run(0, 6 * M, M, {"Latency": True})
    h.tick(6 * M, obs("Latency", active=False))
    h.run(7 * M, 16 * M, M, {"Latency": True})
    assert h.alert("Latency") is AlertState.PENDING  # active since 7m: 9 minutes, not 10
    h.tick(17 * M, obs("Latency"))
    assert h.alert("Latency") is AlertState.FIRING


def test_without_for_fires_on_first_evaluation() -> None:
    """Prometheus, alerting rules: "Alerting rules without the `for` clause will become active on
    the first evaluation." """
    h = Harness([AlertRule("Down")], Route(receiver="oncall", group_wait_ms=0))
    notes = h.tick(0, obs("Down"))
    assert h.alert("Down") is AlertState.FIRING
    assert [(n.receiver, names(n.firing)) for n in notes] == [("oncall", ["Down"])]


def test_keep_firing_for_holds_after_condition_clears() -> None:
    """Prometheus, alerting rules: "The optional `keep_firing_for` clause tells Prometheus to keep
    this alert firing for the specified duration after the firing condition was last met." """
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M)
    h = Harness([AlertRule("Drift", keep_firing_for_ms=5 * M)], route)
    h.tick(0, obs("Drift"))
    for now in range(M, 6 * M, M):  # the first inactive evaluation (1m) starts the 5 minutes
        h.tick(now, obs("Drift", active=False))
        assert h.alert("Drift") is AlertState.FIRING, now
    h.tick(6 * M, obs("Drift", active=False))
    assert h.alert("Drift") is None or h.alert("Drift") is AlertState.RESOLVED
    assert [len(n.resolved) for n in h.sent] == [0, 1]


def test_keep_firing_for_prevents_flapping() -> None:
    """Prometheus, alerting rules: "This can be used to prevent situations such as flapping alerts,
    false resolutions due to lack of data loss, etc." The condition coming back within
    `keep_firing_for` keeps the same alert firing: no resolved notification, no new one."""
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M, repeat_interval_ms=H)
    h = Harness([AlertRule("Drift", keep_firing_for_ms=10 * M)], route)
    h.tick(0, obs("Drift"))
    for now in range(M, 30 * M, M):
        h.tick(now, obs("Drift", active=(now // M) % 3 == 0))  # on one minute in three
    assert h.alert("Drift") is AlertState.FIRING
    assert len(h.sent) == 1
    assert h.state.alerts[fingerprint({"alertname": "Drift"})].active_at == 0


def test_keep_firing_for_does_not_apply_to_pending_alerts() -> None:
    """Prometheus, alerting rules: "keep this alert firing" — only a firing alert is kept;
    Prometheus' code drops a pending alert at its first inactive evaluation whatever
    `keep_firing_for` says."""
    h = Harness([AlertRule("Slow", for_ms=5 * M, keep_firing_for_ms=30 * M)])
    h.tick(0, obs("Slow"))
    h.tick(M, obs("Slow", active=False))
    assert h.alert("Slow") is None


def test_rule_labels_override_series_labels() -> None:
    """Prometheus, alerting rules: "The `labels` clause allows specifying a set of additional labels
    to be attached to the alert. Any existing conflicting labels will be overwritten." """
    h = Harness([AlertRule("Drift", labels={"severity": "page", "team": "ml"})])
    h.tick(0, Observation("Drift", {"team": "web", "endpoint": "prod"}, True))
    (alert,) = h.state.alerts.values()
    assert alert.labels == {
        "alertname": "Drift",
        "endpoint": "prod",
        "severity": "page",
        "team": "ml",
    }


def test_one_alert_per_label_set() -> None:
    """Prometheus, alerting rules: "Whenever the alert expression results in one or more vector
    elements at a given point in time, the alert counts as active for these elements' label sets."
    Each label set is its own alert with its own state and fingerprint."""
    h = Harness([AlertRule("Drift", for_ms=2 * M)])
    h.tick(0, obs("Drift", version="1"))
    h.tick(M, obs("Drift", version="1"), obs("Drift", version="2"))
    h.tick(2 * M, obs("Drift", version="1"), obs("Drift", version="2"))
    assert h.alert("Drift", version="1") is AlertState.FIRING
    assert h.alert("Drift", version="2") is AlertState.PENDING
    assert len(set(h.state.alerts)) == 2


def test_label_set_missing_from_an_evaluation_is_inactive() -> None:
    """Prometheus, alerting rules: "Whenever the alert expression results in one or more vector
    elements at a given point in time, the alert counts as active for these elements' label
    sets." A label set the evaluation no longer returns is not active: its firing alert resolves
    (after `keep_firing_for`), its pending alert goes."""
    rules = [AlertRule("Drift", keep_firing_for_ms=2 * M), AlertRule("Slow", for_ms=5 * M)]
    h = Harness(rules, Route(receiver="t", group_wait_ms=0, group_interval_ms=M))
    h.tick(0, obs("Drift", version="1"), obs("Slow", version="1"))
    for now in range(M, 3 * M, M):  # version 2 replaced version 1
        h.tick(now, obs("Drift", version="2"), obs("Slow", version="2"))
        assert h.alert("Drift", version="1") is AlertState.FIRING  # kept firing 2 minutes
        assert h.alert("Slow", version="1") is None
    h.tick(3 * M, obs("Drift", version="2"), obs("Slow", version="2"))
    assert h.alert("Drift", version="1") is None  # resolved, notified, forgotten
    assert [names(n.resolved) for n in h.sent if n.resolved] == [["Drift"]]
    assert h.sent[-1].resolved[0].labels["version"] == "1"


def test_fingerprint_is_prometheus_label_set_fingerprint() -> None:
    """Alertmanager identifies an alert by its label set's fingerprint (prometheus/common
    `model.LabelSet.Fingerprint`, FNV-1a 64); its test vectors hold here, and the order of the
    labels does not matter."""
    assert fingerprint({}) == f"{14695981039346656037:016x}"
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == f"{5799056148416392346:016x}"
    assert fingerprint(dict(reversed(labels.items()))) == fingerprint(labels)


# -- Alertmanager: grouping and timing ---------------------------------------------------------


def test_group_by_batches_alerts_into_one_notification() -> None:
    """Alertmanager, configuration: "The labels by which incoming alerts are grouped together. For
    example, multiple alerts coming in for cluster=A and alertname=LatencyHigh would be batched into
    a single group." """
    h = Harness([AlertRule("LatencyHigh")], Route(receiver="t", group_by=("cluster", "alertname")))
    h.tick(
        0,
        obs("LatencyHigh", cluster="A", instance="a1"),
        obs("LatencyHigh", cluster="A", instance="a2"),
        obs("LatencyHigh", cluster="B", instance="b1"),
    )
    notes = h.tick(30 * S)
    assert sorted((n.group_labels["cluster"], sorted(names(n.firing))) for n in notes) == [
        ("A", ["a1", "a2"]),
        ("B", ["b1"]),
    ]


def test_group_wait_delays_the_first_notification() -> None:
    """Alertmanager, configuration: "How long to wait before sending the first notification for a
    new group of alerts. Allows to wait for alerts to arrive from other rule groups or Prometheus
    servers" """
    h = Harness([AlertRule("A"), AlertRule("B")], Route(receiver="t", group_wait_ms=30 * S))
    assert h.tick(0, obs("A")) == []
    assert h.tick(20 * S, obs("A"), obs("B")) == []
    notes = h.tick(30 * S, obs("A"), obs("B"))
    assert [sorted(names(n.firing)) for n in notes] == [["A", "B"]]


def test_alert_resolved_within_group_wait_is_never_sent() -> None:
    """Alertmanager, configuration: "If an alert is resolved before group_wait has elapsed, no
    notification will be sent for that alert. This reduces noise of flapping alerts." """
    h = Harness([AlertRule("Blip")], Route(receiver="t", group_wait_ms=30 * S))
    h.tick(0, obs("Blip"))
    h.tick(10 * S, obs("Blip", active=False))
    for now in range(20 * S, 20 * M, 10 * S):
        h.tick(now)
    assert h.sent == []
    assert h.state.alerts == {}
    assert h.state.groups == {}


def test_alert_missing_group_wait_goes_out_at_next_group_interval() -> None:
    """Alertmanager, configuration: "A notification for any alerts that missed the initial
    group_wait will be sent at the next group_interval instead." """
    route = Route(receiver="t", group_wait_ms=30 * S, group_interval_ms=5 * M)
    h = Harness([AlertRule("A"), AlertRule("B")], route)
    h.tick(0, obs("A"))
    assert [names(n.firing) for n in h.tick(30 * S)] == [["A"]]
    h.tick(M, obs("B"))
    for now in range(M + 10 * S, 5 * M + 30 * S, 10 * S):
        assert h.tick(now) == [], now
    notes = h.tick(5 * M + 30 * S)
    assert [(sorted(names(n.firing)), n.is_repeat) for n in notes] == [(["A", "B"], False)]


def test_group_interval_notifies_only_on_change() -> None:
    """Alertmanager, configuration: "At each group_interval, Alertmanager checks if any new alerts
    have fired or any firing alerts have resolved since the last group_interval, and if they have a
    notification is sent. If they haven't, Alertmanager checks if the repeat_interval has elapsed
    instead." """
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=5 * M, repeat_interval_ms=H)
    h = Harness([AlertRule("A"), AlertRule("B")], route)
    h.tick(0, obs("A"), obs("B"))
    for now in range(M, 31 * M, M):  # unchanged: nothing until the repeat interval
        assert h.tick(now, obs("A"), obs("B")) == []
    h.tick(31 * M, obs("A"), obs("B", active=False))  # B resolves between two intervals
    assert h.tick(34 * M, obs("A")) == []
    notes = h.tick(35 * M, obs("A"))
    assert [(names(n.firing), names(n.resolved)) for n in notes] == [(["A"], ["B"])]


def test_repeat_interval_resends_unchanged_group() -> None:
    """Alertmanager, configuration: "How long to wait before repeating the last notification."
    (`repeat_interval`, whose help in the configuration example reads "If an alert has successfully
    been sent, wait 'repeat_interval' to resend them.")"""
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M, repeat_interval_ms=H)
    h = Harness([AlertRule("Down")], route)
    h.run(0, 3 * H + M, M, {"Down": True})
    assert [(n.at, n.is_repeat) for n in h.sent] == [
        (0, False),
        (H, True),
        (2 * H, True),
        (3 * H, True),
    ]


def test_repeat_interval_restarts_after_a_change() -> None:
    """Alertmanager, configuration: "Notifications are not repeated if any new alerts have fired or
    any firing alerts have resolved since the last group_interval." A change is notified as new (not
    a repeat) and the repeat interval counts from it."""
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M, repeat_interval_ms=H)
    h = Harness([AlertRule("A"), AlertRule("B")], route)
    h.tick(0, obs("A"))
    h.run(M, 50 * M, M, {"A": True})
    h.run(50 * M, H + 50 * M + M, M, {"A": True, "B": True})
    assert [(n.at, n.is_repeat, sorted(names(n.firing))) for n in h.sent] == [
        (0, False, ["A"]),
        (50 * M, False, ["A", "B"]),
        (H + 50 * M, True, ["A", "B"]),
    ]


def test_repeat_interval_rounds_up_to_group_interval() -> None:
    """Alertmanager, configuration: "Since the repeat_interval is checked after each group_interval,
    it should be a multiple of the group_interval. If it's not, the repeat_interval is rounded up to
    the next multiple of the group_interval." """
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=5 * M, repeat_interval_ms=7 * M)
    h = Harness([AlertRule("Down")], route)
    h.run(0, 21 * M, M, {"Down": True})
    assert [n.at for n in h.sent] == [0, 10 * M, 20 * M]


def test_resolved_alert_is_notified_once() -> None:
    """Alertmanager, configuration: "Whether to notify about resolved alerts." (`send_resolved`,
    true by default for webhooks and PagerDuty): the recovery is sent once, and nothing is repeated
    after it."""
    route = Route(receiver="pd", group_wait_ms=0, group_interval_ms=M, repeat_interval_ms=10 * M)
    h = Harness([AlertRule("Down")], route)
    h.run(0, 5 * M, M, {"Down": True})
    h.run(5 * M, 2 * H, M, {"Down": False})
    assert [(n.at, names(n.firing), names(n.resolved)) for n in h.sent] == [
        (0, ["Down"], []),
        (5 * M, [], ["Down"]),
    ]
    assert h.state.alerts == {}
    assert h.state.groups == {}


def test_send_resolved_false_keeps_recoveries_quiet() -> None:
    """Alertmanager, configuration: "Whether to notify about resolved alerts." With `send_resolved:
    false` the receiver hears about firing alerts only; the group is still cleared, so a new firing
    is sent at once."""
    route = Route(receiver="chat", group_wait_ms=0, group_interval_ms=M, send_resolved=False)
    h = Harness([AlertRule("A"), AlertRule("B")], route)
    h.tick(0, obs("A"), obs("B"))
    h.tick(M, obs("A"), obs("B", active=False))
    h.run(2 * M, 10 * M, M, {"A": False})
    assert [(n.at, sorted(names(n.firing)), n.resolved) for n in h.sent] == [(0, ["A", "B"], ())]
    assert [names(n.firing) for n in h.tick(10 * M, obs("A"))] == [["A"]]


def test_group_by_all_labels() -> None:
    """Alertmanager, configuration: "To aggregate by all possible labels use the special value '...'
    as the sole label name [...] This effectively disables aggregation entirely, passing through all
    alerts as-is." """
    h = Harness([AlertRule("Drift")], Route(receiver="t", group_by=(ALL_LABELS,), group_wait_ms=0))
    notes = h.tick(0, obs("Drift", version="1"), obs("Drift", version="2"))
    assert sorted(n.group_labels["version"] for n in notes) == ["1", "2"]
    assert all(len(n.firing) == 1 for n in notes)


# -- Alertmanager: routing -------------------------------------------------------------------


TREE = Route(
    receiver="default-receiver",
    group_wait_ms=30 * S,
    group_interval_ms=5 * M,
    repeat_interval_ms=4 * H,
    group_by=("cluster", "alertname"),
    routes=(
        Route(
            receiver="database-pager",
            group_wait_ms=10 * S,
            matchers=parse_matchers(['service=~"mysql|cassandra"']),
        ),
        Route(
            receiver="frontend-pager",
            group_by=("product", "environment"),
            matchers=parse_matchers(['team="frontend"']),
        ),
        Route(
            receiver="dev-pager",
            matchers=parse_matchers(['service="inhouse-service"']),
            continue_=True,
        ),
        Route(receiver="on-call-pager", matchers=parse_matchers(['service="inhouse-service"'])),
    ),
)


def test_route_stops_at_first_matching_child() -> None:
    """Alertmanager, configuration: "If `continue` is set to false, it stops after the first
    matching child." An alert for mysql owned by the frontend team goes to the database pager
    only."""
    assert [r.receiver for r in route_alert(TREE, {"service": "mysql", "team": "frontend"})] == [
        "database-pager"
    ]


def test_route_continue_matches_following_siblings() -> None:
    """Alertmanager, configuration: "If `continue` is true on a matching node, the alert will
    continue matching against subsequent siblings." Both pagers get their notification."""
    h = Harness([AlertRule("Down")], TREE)
    h.tick(0, obs("Down", service="inhouse-service"))
    notes = h.tick(30 * S)
    assert sorted(n.receiver for n in notes) == ["dev-pager", "on-call-pager"]


def test_unmatched_alert_stays_at_parent() -> None:
    """Alertmanager, configuration: "If an alert does not match any children of a node (no matching
    child nodes, or none exist), the alert is handled based on the configuration parameters of the
    current node." """
    assert [r.receiver for r in route_alert(TREE, {"service": "redis"})] == ["default-receiver"]


def test_child_route_inherits_parent_parameters() -> None:
    """Alertmanager, configuration: "A route block defines a node in a routing tree and its
    children. Its optional configuration parameters are inherited from its parent node if not set."
    The database route sets only group_wait; the frontend route overrides group_by."""
    (db,) = route_alert(TREE, {"service": "cassandra"})
    assert (db.group_wait_ms, db.group_interval_ms, db.repeat_interval_ms) == (10 * S, 5 * M, 4 * H)
    assert db.group_by == ("cluster", "alertname")
    (fe,) = route_alert(TREE, {"team": "frontend"})
    assert (fe.group_by, fe.group_wait_ms) == (("product", "environment"), 30 * S)
    h = Harness([AlertRule("Down")], TREE)
    h.tick(0, obs("Down", service="mysql", cluster="eu"))
    assert [n.receiver for n in h.tick(10 * S)] == ["database-pager"]


def test_route_defaults_are_alertmanager_defaults() -> None:
    """Alertmanager, configuration: "[ group_wait: <duration> | default = 30s ]", "[ group_interval:
    <duration> | default = 5m ]", "[ repeat_interval: <duration> | default = 4h ]" """
    (root,) = route_alert(Route(receiver="r"), {})
    assert (root.group_wait_ms, root.group_interval_ms, root.repeat_interval_ms) == (
        30 * S,
        5 * M,
        4 * H,
    )
    assert [parse_duration(d) for d in ("30s", "5m", "4h", "1h30m", "0")] == [
        30 * S,
        5 * M,
        4 * H,
        90 * M,
        0,
    ]


# -- Alertmanager: inhibition ----------------------------------------------------------------


CLUSTER_DOWN = InhibitRule(
    source=parse_matchers(['alertname="ClusterDown"']),
    target=parse_matchers(['severity="warning"']),
    equal=("cluster",),
)


def test_inhibition_mutes_targets_with_equal_labels() -> None:
    """Alertmanager, configuration: "An inhibition rule mutes an alert (target) matching a set of
    matchers when an alert (source) exists that matches another set of matchers. Both target and
    source alerts must have the same label values for the label names in the `equal` list." """
    rules = [
        AlertRule("ClusterDown", labels={"severity": "page"}),
        AlertRule("HighLatency", labels={"severity": "warning"}),
    ]
    h = Harness(
        rules,
        Route(receiver="t", group_wait_ms=0, group_by=("alertname", "cluster")),
        inhibit=[CLUSTER_DOWN],
    )
    notes = h.tick(
        0,
        obs("ClusterDown", cluster="eu"),
        obs("HighLatency", cluster="eu", instance="eu-1"),
        obs("HighLatency", cluster="us", instance="us-1"),
    )
    assert sorted(names(a for n in notes for a in n.firing)) == ["ClusterDown", "us-1"]


def test_inhibition_needs_equal_labels_to_match() -> None:
    """Alertmanager, configuration: "Labels that must have an equal value in the source and target
    alert for the inhibition to take effect." A source in another cluster does not mute the
    target."""
    rules = [AlertRule("ClusterDown"), AlertRule("HighLatency", labels={"severity": "warning"})]
    h = Harness(rules, Route(receiver="t", group_wait_ms=0), inhibit=[CLUSTER_DOWN])
    notes = h.tick(0, obs("ClusterDown", cluster="us"), obs("HighLatency", cluster="eu"))
    assert sorted(names(a for n in notes for a in n.firing)) == ["ClusterDown", "HighLatency"]


def test_inhibition_missing_equal_labels_count_as_equal() -> None:
    """Alertmanager, configuration: "Semantically, a missing label and a label with an empty value
    are the same thing. Therefore, if all the label names listed in `equal` are missing from both
    the source and target alerts, the inhibition rule will apply." """
    rules = [AlertRule("ClusterDown"), AlertRule("HighLatency", labels={"severity": "warning"})]
    h = Harness(rules, Route(receiver="t", group_wait_ms=0), inhibit=[CLUSTER_DOWN])
    notes = h.tick(0, obs("ClusterDown"), obs("HighLatency", cluster=""))
    assert [names(n.firing) for n in notes] == [["ClusterDown"]]


def test_alert_matching_both_sides_does_not_inhibit_itself() -> None:
    """Alertmanager, configuration: "To prevent an alert from inhibiting itself, an alert that
    matches _both_ the target and the source side of a rule cannot be inhibited by alerts for which
    the same is true (including itself)." """
    both = InhibitRule(
        source=parse_matchers(['severity="critical"']),
        target=parse_matchers(['team="ml"']),
        equal=(),
    )
    rules = [
        AlertRule("Drift", labels={"severity": "critical", "team": "ml"}),
        AlertRule("Skew", labels={"severity": "critical", "team": "ml"}),
        AlertRule("Kpi", labels={"team": "ml"}),
    ]
    h = Harness(rules, Route(receiver="t", group_wait_ms=0), inhibit=[both])
    notes = h.tick(0, obs("Drift"), obs("Skew"), obs("Kpi"))
    assert sorted(names(a for n in notes for a in n.firing)) == ["Drift", "Skew"]


def test_only_a_firing_source_inhibits() -> None:
    """Alertmanager, concepts: "Inhibition is a concept of suppressing notifications for certain
    alerts if certain other alerts are already firing." A pending source does not mute; once it
    resolves, the target is notified at the next group_interval."""
    rules = [
        AlertRule("ClusterDown", for_ms=5 * M),
        AlertRule("HighLatency", labels={"severity": "warning"}),
    ]
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M, group_by=("alertname",))
    h = Harness(rules, route, inhibit=[CLUSTER_DOWN])
    notes = h.tick(0, obs("ClusterDown", cluster="eu"), obs("HighLatency", cluster="eu"))
    assert [names(n.firing) for n in notes] == [["HighLatency"]]  # the source is pending
    h2 = Harness(rules, route, inhibit=[CLUSTER_DOWN])
    h2.tick(0, obs("ClusterDown", cluster="eu"))
    for now in range(M, 6 * M, M):
        h2.tick(now, obs("ClusterDown", cluster="eu"))  # fires at 5m
    for now in range(6 * M, 10 * M, M):
        h2.tick(now, obs("ClusterDown", cluster="eu"), obs("HighLatency", cluster="eu"))
    assert [(n.at, names(n.firing)) for n in h2.sent] == [(5 * M, ["ClusterDown"])]
    notes = h2.tick(
        10 * M, obs("ClusterDown", active=False, cluster="eu"), obs("HighLatency", cluster="eu")
    )
    assert sorted((names(n.firing), names(n.resolved)) for n in notes) == [
        ([], ["ClusterDown"]),
        (["HighLatency"], []),
    ]


def test_group_wait_lets_inhibiting_alert_arrive() -> None:
    """Alertmanager, configuration: "Allows to wait [...] for one or more inhibiting alerts to
    arrive and mute any target alerts before the first notification." """
    rules = [AlertRule("ClusterDown"), AlertRule("HighLatency", labels={"severity": "warning"})]
    h = Harness(rules, Route(receiver="t", group_wait_ms=30 * S), inhibit=[CLUSTER_DOWN])
    h.tick(0, obs("HighLatency", cluster="eu"))
    h.tick(20 * S, obs("HighLatency", cluster="eu"), obs("ClusterDown", cluster="eu"))
    notes = h.tick(30 * S, obs("HighLatency", cluster="eu"), obs("ClusterDown", cluster="eu"))
    assert [names(n.firing) for n in notes] == [["ClusterDown"]]


# -- Alertmanager: silences and matchers -----------------------------------------------------


def silence(*matchers: str, starts: int = 0, ends: int = H, sid: str = "s1") -> Silence:
    return Silence.create(
        sid, matchers, starts_at=starts, ends_at=ends, created_by="ana", comment="deploying"
    )


def test_silence_mutes_alerts_matching_all_its_matchers() -> None:
    """Alertmanager, concepts: "Incoming alerts are checked whether they match all the equality or
    regular expression matchers of an active silence. If they do, no notifications will be sent out
    for that alert." """
    rules = [AlertRule("Drift")]
    route = Route(receiver="t", group_wait_ms=0, group_by=(ALL_LABELS,))
    h = Harness(rules, route, silences=[silence('endpoint="prod"', 'version=~"1|2"')])
    notes = h.tick(
        0,
        obs("Drift", endpoint="prod", version="1", instance="muted"),
        obs("Drift", endpoint="prod", version="3", instance="other-version"),
        obs("Drift", endpoint="staging", version="1", instance="other-endpoint"),
    )
    assert sorted(names(a for n in notes for a in n.firing)) == ["other-endpoint", "other-version"]


def test_expired_silence_stops_muting() -> None:
    """Alertmanager, concepts: "Silences are a straightforward way to simply mute alerts for a given
    time." When the silence ends, the still-firing alert is notified at the next group_interval; a
    silence that has not started yet mutes nothing."""
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M)
    h = Harness([AlertRule("Drift")], route, silences=[silence('alertname="Drift"', ends=10 * M)])
    h.run(0, 10 * M, M, {"Drift": True})
    assert h.sent == []
    assert [n.at for n in h.tick(10 * M, obs("Drift"))] == [10 * M]
    later = Harness(
        [AlertRule("Drift")], route, silences=[silence('alertname="Drift"', starts=H, ends=2 * H)]
    )
    assert [names(n.firing) for n in later.tick(0, obs("Drift"))] == [["Drift"]]
    assert silence('a="b"', starts=H, ends=2 * H).state(0) == "pending"
    assert silence('a="b"', ends=10 * M).state(10 * M) == "expired"


def test_silence_mutes_the_recovery_too() -> None:
    """Alertmanager, concepts: "no notifications will be sent out for that alert" — Alertmanager's
    MuteStage drops a silenced alert whether it fires or resolves."""
    route = Route(receiver="t", group_wait_ms=0, group_interval_ms=M)
    h = Harness([AlertRule("Drift")], route)
    h.tick(0, obs("Drift"))
    h.silences = [silence('alertname="Drift"', starts=M, ends=H)]
    h.run(M, 10 * M, M, {"Drift": False})
    assert [(names(n.firing), names(n.resolved)) for n in h.sent] == [(["Drift"], [])]


def test_regex_matchers_are_fully_anchored() -> None:
    """Alertmanager, configuration: "The regex is anchored on both ends. To un-anchor the regex, use
    `.*<regex>.*`." """
    assert Matcher.parse('endpoint=~"prod"').matches({"endpoint": "prod"})
    assert not Matcher.parse('endpoint=~"prod"').matches({"endpoint": "prod-eu"})
    assert not Matcher.parse('endpoint=~"prod"').matches({"endpoint": "preprod"})
    assert Matcher.parse('endpoint=~".*prod.*"').matches({"endpoint": "preprod-eu"})
    assert Matcher.parse('endpoint!~"prod|staging"').matches({"endpoint": "prod-eu"})
    assert not Matcher.parse("endpoint!~prod|staging").matches({"endpoint": "staging"})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="page"', {"severity": "page"}, True),
        ('severity="page"', {"severity": "ticket"}, False),
        ('severity!="page"', {"severity": "ticket"}, True),
        ('severity!="page"', {}, True),
        ('severity=~"page|ticket"', {"severity": "ticket"}, True),
        ('severity!~"page|ticket"', {"severity": "info"}, True),
        ('severity!~"page|ticket"', {"severity": "page"}, False),
        ('team=""', {}, True),
        ('team=~".+"', {}, False),
    ],
)
def test_matcher_operators(text: str, labels: dict[str, str], expected: bool) -> None:
    """Alertmanager, configuration: "`=` means equals, `!=` means not equal, `=~` means matches the
    regular expression and `!~` means doesn't match the regular expression." (A missing label is the
    empty string.)"""
    assert Matcher.parse(text).matches(labels) is expected


def test_composed_matchers_all_must_match() -> None:
    """Alertmanager, configuration: "When composed, all matchers must match for the entire
    expression to match. For example, the expression `{alertname="Watchdog",
    severity=~"warning|critical"}` will match an alert with labels `alertname=Watchdog,
    severity=critical` but not an alert with labels `alertname=Watchdog, severity=none`" """
    s = silence('alertname="Watchdog"', 'severity=~"warning|critical"')
    assert s.mutes({"alertname": "Watchdog", "severity": "critical"}, now=M)
    assert not s.mutes({"alertname": "Watchdog", "severity": "none"}, now=M)


def test_silence_requires_expiry_author_and_a_selective_matcher() -> None:
    """A silence has "starts_at", "ends_at", "created_by" and "comment" (Alertmanager's API requires
    all four); tandem refuses one without an expiry or author, and one whose matchers all match the
    empty label set (it would mute every alert; amtool refuses it too)."""
    with pytest.raises(InvalidInput, match="expiry"):
        Silence.create("s", ['a="b"'], starts_at=0, ends_at=None, created_by="ana")
    with pytest.raises(InvalidInput, match="author"):
        Silence.create("s", ['a="b"'], starts_at=0, ends_at=H, created_by=" ")
    with pytest.raises(InvalidInput, match="empty label set"):
        Silence.create("s", ['a=~".*"'], starts_at=0, ends_at=H, created_by="ana")
    with pytest.raises(InvalidInput, match="end after"):
        Silence.create("s", ['a="b"'], starts_at=H, ends_at=H, created_by="ana")
    with pytest.raises(InvalidInput, match="regex"):
        Matcher.parse('a=~"("')
    with pytest.raises(InvalidInput, match="expected name"):
        Matcher.parse("not a matcher")
