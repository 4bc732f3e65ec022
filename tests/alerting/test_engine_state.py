"""Properties of the alert engine's state and step: JSON round-trips, determinism, replays.

The service persists `EngineState.to_json()` per project between worker ticks, so whatever a
tick leaves must come back identical from JSON text, and a run that persists at every tick must
send exactly what a run kept in memory sends.
"""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.alerting.engine import (
    AlertRule,
    EngineConfig,
    EngineState,
    InhibitRule,
    Matcher,
    MatchType,
    Notification,
    Observation,
    Route,
    Silence,
    fingerprint,
    step,
)
from tandem.alerting.matchers import parse_matchers

S = 1000
M = 60 * S

RULES = [
    AlertRule("Drift", for_ms=2 * M, labels={"severity": "ticket"}),
    AlertRule("Down", keep_firing_for_ms=3 * M, labels={"severity": "page"}),
    AlertRule("Kpi", for_ms=M, keep_firing_for_ms=M),
]
CONFIG = EngineConfig.of(
    RULES,
    Route(
        receiver="team",
        group_by=("alertname",),
        group_wait_ms=30 * S,
        group_interval_ms=2 * M,
        repeat_interval_ms=10 * M,
        routes=(
            Route(receiver="pager", matchers=parse_matchers(['severity="page"']), continue_=True),
            Route(receiver="tickets", group_by=("...",), send_resolved=False),
        ),
    ),
)
INHIBIT = [
    InhibitRule(
        parse_matchers(['severity="page"']), parse_matchers(['severity="ticket"']), ("endpoint",)
    )
]
SILENCES = [
    Silence.create("s1", ['endpoint="staging"'], starts_at=5 * M, ends_at=15 * M, created_by="ana")
]

observation = st.builds(
    Observation,
    rule=st.sampled_from([r.name for r in RULES]),
    labels=st.fixed_dictionaries({"endpoint": st.sampled_from(["prod", "staging", ""])}),
    active=st.booleans(),
    value=st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
)
ticks = st.lists(
    st.tuples(st.integers(min_value=1, max_value=4 * M), st.lists(observation, max_size=4)),
    max_size=25,
)


def run(
    timeline: list[tuple[int, list[Observation]]], *, persist: bool
) -> tuple[EngineState, list[Notification]]:
    state, sent, now = EngineState(), [], 0
    for gap, observations in timeline:
        now += gap
        state, notes = step(state, observations, SILENCES, INHIBIT, CONFIG, now)
        sent.extend(notes)
        if persist:
            state = EngineState.from_json(json.loads(json.dumps(state.to_json())))
    return state, sent


@settings(max_examples=80, deadline=None, derandomize=True)
@given(ticks)
def test_state_round_trips_through_json(timeline: list[tuple[int, list[Observation]]]) -> None:
    state, _ = run(timeline, persist=False)
    data = state.to_json()
    text = json.dumps(data, sort_keys=True)
    back = EngineState.from_json(json.loads(text))
    assert back == state
    assert json.dumps(back.to_json(), sort_keys=True) == text


@settings(max_examples=80, deadline=None, derandomize=True)
@given(ticks)
def test_persisting_every_tick_changes_nothing(
    timeline: list[tuple[int, list[Observation]]],
) -> None:
    in_memory = run(timeline, persist=False)
    persisted = run(timeline, persist=True)
    assert persisted == in_memory


@settings(max_examples=int(os.environ.get("TANDEM_ENGINE_EXAMPLES", "200")), deadline=None)
@given(ticks, st.lists(observation, max_size=4))
def test_step_leaves_its_input_alone_and_a_replayed_tick_sends_nothing(
    timeline: list[tuple[int, list[Observation]]], last: list[Observation]
) -> None:
    state, _ = run(timeline, persist=True)
    now = sum(gap for gap, _ in timeline) + M
    before = json.dumps(state.to_json())
    once, first = step(state, last, SILENCES, INHIBIT, CONFIG, now)
    assert json.dumps(state.to_json()) == before
    again, second = step(once, last, SILENCES, INHIBIT, CONFIG, now)
    assert second == []
    assert again.to_json() == once.to_json()
    assert len({(n.group_key, n.receiver) for n in first}) == len(first)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(ticks)
def test_notifications_carry_consistent_alerts(
    timeline: list[tuple[int, list[Observation]]],
) -> None:
    _, sent = run(timeline, persist=True)
    for note in sent:
        assert note.firing or note.resolved
        assert all(a.state == "firing" for a in note.firing)
        assert all(a.state == "resolved" for a in note.resolved)
        for alert in (*note.firing, *note.resolved):
            assert alert.fingerprint == fingerprint(alert.labels)
            assert note.group_labels.items() <= alert.labels.items()
        if note.receiver == "tickets":
            assert note.resolved == ()


label_sets = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), st.text(max_size=8), max_size=6
)


@given(label_sets)
def test_fingerprint_ignores_label_order(labels: dict[str, str]) -> None:
    shuffled = dict(sorted(labels.items(), reverse=True))
    assert fingerprint(shuffled) == fingerprint(labels)
    assert len(fingerprint(labels)) == 16


matcher = st.builds(
    Matcher,
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
    op=st.sampled_from(list(MatchType)),
    value=st.from_regex(r"[a-z0-9|.]{0,8}", fullmatch=True)
    | st.sampled_from([".*", "a.+", "x|y*"]),
)


@given(st.lists(matcher, min_size=1, max_size=3), st.lists(matcher, max_size=3))
def test_silences_and_inhibit_rules_round_trip(
    matchers: list[Matcher], others: list[Matcher]
) -> None:
    silence = Silence("s", tuple(matchers), 0, M, "ana", "why")
    assert Silence.from_json(json.loads(json.dumps(silence.to_json()))) == silence
    rule = InhibitRule(tuple(matchers), tuple(others), ("endpoint",), "r")
    assert InhibitRule.from_json(json.loads(json.dumps(rule.to_json()))) == rule
    for m in matchers:
        assert Matcher.parse(str(m)) == m


# Regressions found by the replay property above (random runs with 5,000 examples).


def test_a_replayed_tick_does_not_regroup_a_resolved_alert() -> None:
    # Down{staging} and Down{prod} fire and are notified to the pager's group (by alertname) and
    # each to its own tickets group. Both resolve at the last tick; the pager's group flushes
    # them at once, prod's tickets group holds its resolved alert until its own flush. The
    # replayed tick used to route that resolved alert again, opening a new pager group for it,
    # which then re-sent its recovery alongside the next Down alert that fired.
    down = [
        (1, [Observation("Down", {"endpoint": "staging"}, True)]),
        (25_703, [Observation("Down", {"endpoint": "prod"}, True)]),
        (1, []),
        (4_197, [Observation("Down", {"endpoint": "prod"}, False)]),
        (1, []),
        (98, []),
        (59_902, []),
        (59_999, []),
    ]
    last = [Observation("Down", {"endpoint": "prod"}, False)]
    state, _ = run(down, persist=True)
    now = sum(gap for gap, _ in down) + M
    once, first = step(state, last, SILENCES, INHIBIT, CONFIG, now)
    prod = fingerprint({"alertname": "Down", "endpoint": "prod", "severity": "page"})
    assert [(n.receiver, len(n.resolved)) for n in first] == [("pager", 2)]
    again, second = step(once, last, SILENCES, INHIBIT, CONFIG, now)
    assert second == []
    assert again.to_json() == once.to_json()
    assert [g.receiver for g in again.groups.values() if prod in g.alerts] == ["tickets"]
    # Another Down alert fires: the pager's new group tells of it, not of prod's old recovery.
    later, sent = again, []
    for at in range(now + S, now + 4 * M, 30 * S):
        later, notes = step(
            later, [Observation("Down", {"endpoint": ""}, True)], SILENCES, INHIBIT, CONFIG, at
        )
        sent.extend(notes)
    assert [n.receiver for n in sent if n.firing] == ["pager", "tickets"]
    assert all(a.fingerprint != prod for n in sent for a in n.resolved)


def test_a_label_set_observed_twice_in_one_evaluation_takes_the_last_verdict() -> None:
    # A pending Drift alert whose `for` has passed, observed active and then inactive at the
    # same time: the evaluation's verdict is the last one (inactive), so the pending alert is
    # dropped, and replaying the tick changes nothing. Applying both in turn used to fire and
    # resolve it at once, and the replay then started it pending again.
    state, _ = run([(1, [Observation("Drift", {"endpoint": "prod"}, True)]), (M, [])], persist=True)
    both = [
        Observation("Drift", {"endpoint": "prod"}, True),
        Observation("Drift", {"endpoint": "prod"}, False),
    ]
    now = 1 + 2 * M
    once, first = step(state, both, SILENCES, INHIBIT, CONFIG, now)
    assert (first, once.alerts) == ([], {})
    again, second = step(once, both, SILENCES, INHIBIT, CONFIG, now)
    assert second == []
    assert again.to_json() == once.to_json()
    flipped, _ = step(state, both[::-1], SILENCES, INHIBIT, CONFIG, now)
    assert [a.state for a in flipped.alerts.values()] == ["firing"]
