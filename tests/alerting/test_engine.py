"""The alert engine's own rules, beyond what the Prometheus and Alertmanager docs say."""

from __future__ import annotations

import pytest

from tandem.alerting.engine import (
    AlertRule,
    AlertState,
    EngineConfig,
    EngineState,
    InhibitRule,
    Observation,
    Route,
    Silence,
    alert_statuses,
    fingerprint,
    parse_duration,
    step,
)
from tandem.alerting.matchers import parse_matchers
from tandem.errors import InvalidInput

S = 1000
M = 60 * S
ROUTE = Route(receiver="team", group_wait_ms=0, group_interval_ms=M)


def test_alerts_of_a_removed_rule_resolve() -> None:
    both = EngineConfig.of([AlertRule("Drift"), AlertRule("Slow", for_ms=10 * M)], ROUTE)
    state, notes = step(
        EngineState(),
        [Observation("Drift", {}, True), Observation("Slow", {}, True)],
        [],
        [],
        both,
        0,
    )
    assert [a.labels["alertname"] for n in notes for a in n.firing] == ["Drift"]
    partial = EngineConfig.of([AlertRule("Slow", for_ms=10 * M)], ROUTE)
    kept, notes = step(state, [], [], [], partial, M)  # a rule not observed keeps its alerts
    assert (notes, kept.alerts.keys()) == ([], state.alerts.keys())
    none = EngineConfig.of([], ROUTE, rules_complete=True)
    state, notes = step(state, [], [], [], none, M)
    assert [(a.labels["alertname"], a.resolved_at) for n in notes for a in n.resolved] == [
        ("Drift", M)
    ]
    assert state.alerts == {}
    assert state.groups == {}


def test_unknown_rule_and_root_without_receiver_are_refused() -> None:
    config = EngineConfig.of([AlertRule("Drift")], ROUTE)
    with pytest.raises(InvalidInput, match="no alerting rule named 'Nope'"):
        step(EngineState(), [Observation("Nope", {}, True)], [], [], config, 0)
    headless = EngineConfig.of([AlertRule("Drift")], Route())
    with pytest.raises(InvalidInput, match="root route needs a receiver"):
        step(EngineState(), [Observation("Drift", {}, True)], [], [], headless, 0)
    with pytest.raises(InvalidInput, match="not a duration"):
        parse_duration("5 minutes")


def test_existing_groups_follow_a_changed_receiver() -> None:
    rules = [AlertRule("Drift")]
    state, _ = step(
        EngineState(), [Observation("Drift", {}, True)], [], [], EngineConfig.of(rules, ROUTE), 0
    )
    moved = EngineConfig.of(
        rules, Route(receiver="accountable", group_wait_ms=0, group_interval_ms=M)
    )
    state, notes = step(state, [Observation("Drift", {}, False)], [], [], moved, M)
    assert [(n.receiver, len(n.resolved)) for n in notes] == [("accountable", 1)]


def test_observations_apply_in_time_order_and_old_ones_are_ignored() -> None:
    config = EngineConfig.of([AlertRule("Drift", for_ms=2 * M)], ROUTE)
    late = [Observation("Drift", {}, True, at=t) for t in (2 * M, 0, M)]
    state, notes = step(EngineState(), late, [], [], config, 3 * M)
    (alert,) = state.alerts.values()
    assert (alert.state, alert.active_at, alert.fired_at) == (AlertState.FIRING, 0, 2 * M)
    assert len(notes) == 1
    # A window evaluated again (a worker that died before saving its cursor) changes nothing.
    state2, notes2 = step(state, [Observation("Drift", {}, False, at=M)], [], [], config, 4 * M)
    assert state2.alerts[alert.fingerprint].state is AlertState.FIRING
    assert notes2 == []


def test_alert_firing_again_before_its_recovery_was_sent_is_not_sent_twice() -> None:
    config = EngineConfig.of(
        [AlertRule("Drift")], Route(receiver="t", group_wait_ms=0, group_interval_ms=5 * M)
    )
    state, notes = step(EngineState(), [Observation("Drift", {}, True)], [], [], config, 0)
    assert len(notes) == 1
    state, notes = step(state, [Observation("Drift", {}, False)], [], [], config, M)
    state, notes = step(state, [Observation("Drift", {}, True)], [], [], config, 2 * M)
    state, notes = step(state, [Observation("Drift", {}, True)], [], [], config, 5 * M)
    assert notes == []
    (alert,) = state.alerts.values()
    assert (alert.state, alert.active_at) == (AlertState.FIRING, 2 * M)


def test_alert_statuses_say_what_mutes_an_alert() -> None:
    config = EngineConfig.of(
        [AlertRule("Down", labels={"severity": "page"}), AlertRule("Drift", for_ms=M)], ROUTE
    )
    inhibit = [
        InhibitRule(parse_matchers(['severity="page"']), parse_matchers(['alertname="Drift"']))
    ]
    silence = Silence.create(
        "quiet", ['alertname="Down"'], starts_at=0, ends_at=10 * M, created_by="ana"
    )
    state, notes = step(
        EngineState(),
        [Observation("Down", {}, True), Observation("Drift", {}, True)],
        [silence],
        inhibit,
        config,
        0,
    )
    assert notes == []
    state, notes = step(state, [Observation("Drift", {}, True)], [silence], inhibit, config, M)
    assert notes == []  # Drift fires, but the silenced Down still inhibits it
    by_name = {s.alert.labels["alertname"]: s for s in alert_statuses(state, [silence], inhibit, M)}
    down = fingerprint({"alertname": "Down", "severity": "page"})
    assert by_name["Down"].silenced_by == ("quiet",)
    assert by_name["Drift"].inhibited_by == (down,)
    assert all(s.is_suppressed for s in by_name.values())
    later = alert_statuses(state, [silence], inhibit, 10 * M)
    assert [s.silenced_by for s in later if s.alert.labels["alertname"] == "Down"] == [()]


def test_partial_observations_leave_unobserved_label_sets_alone() -> None:
    rules = [AlertRule("Drift", partial_observations=True)]
    config = EngineConfig.of(rules, ROUTE)
    state, _ = step(
        EngineState(), [Observation("Drift", {"endpoint": "prod"}, True)], [], [], config, 0
    )
    state, notes = step(
        state, [Observation("Drift", {"endpoint": "staging"}, True)], [], [], config, M
    )
    assert sorted(a.labels["endpoint"] for a in state.alerts.values() if a.state == "firing") == [
        "prod",
        "staging",
    ]
    assert [sorted(a.labels["endpoint"] for a in n.firing) for n in notes] == [["prod", "staging"]]
