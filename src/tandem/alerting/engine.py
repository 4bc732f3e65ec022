"""The alert engine: Prometheus' alerting-rule states and Alertmanager's dispatch, pure
(matchers, silences and inhibitions in `matchers.py`, the routing tree in `routing.py`, the
state in `state.py`; this module re-exports what a caller needs).

No I/O and no clock: `step(state, observations, silences, inhibit_rules, config, now)` takes the
time in milliseconds since the epoch and returns the next state and the notifications to send.
The state is plain data (`EngineState.to_json()` / `EngineState.from_json()`), persisted by the
caller between ticks.

Rules (Prometheus). Each observation says whether a rule's condition holds for one label set at
time `at`; the observations of one rule at one `at` are that rule's evaluation at `at`, and its
label sets missing from them are inactive then (as series missing from a query's result;
`AlertRule.partial_observations` turns that off). A new
active label set makes a *pending* alert; it *fires* once it has been active for the rule's `for`
(at once when `for` is 0). When the condition stops holding, a pending alert is dropped and a
firing one stays firing for `keep_firing_for` more, then is *resolved*. A rule not observed in a
step is not evaluated: its alerts keep their state (a monitor with no data changes nothing).
Observations older than an alert's last evaluation are ignored (a replayed window).

Dispatch (Alertmanager). Firing and resolved alerts are routed through the `Route` tree to a
receiver and grouped by the route's `group_by` labels. A new group waits `group_wait` before its
first notification; then it is flushed every `group_interval`, and a flush notifies when the group
has firing alerts not notified before, or resolved ones not notified before (when the route sends
resolved alerts), or when all its alerts resolved, or when `repeat_interval` has passed since the
last notification of an unchanged firing group. Silenced and inhibited alerts are left out of
notifications. The notifications are taken as delivered: the caller queues them with retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from tandem.alerting.matchers import (
    InhibitRule,
    Matcher,
    MatchType,
    Silence,
    fingerprint,
    inhibited_by,
    silenced_by,
)
from tandem.alerting.routing import (
    ALL_LABELS,
    HOUR,
    MINUTE,
    SECOND,
    Route,
    group_key,
    group_labels,
    parse_duration,
    route_alert,
    route_of_group,
    routes_for,
)
from tandem.alerting.state import Alert, AlertState, EngineState, GroupState, fingerprint_of
from tandem.errors import InvalidInput

__all__ = [
    "ALL_LABELS",
    "HOUR",
    "MINUTE",
    "SECOND",
    "Alert",
    "AlertRule",
    "AlertState",
    "AlertStatus",
    "EngineConfig",
    "EngineState",
    "GroupState",
    "InhibitRule",
    "MatchType",
    "Matcher",
    "Notification",
    "Observation",
    "Route",
    "Silence",
    "alert_statuses",
    "fingerprint",
    "parse_duration",
    "route_alert",
    "step",
]


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule: the alert's name, how long it must hold, extra labels and annotations.

    Attributes:
        name: becomes the `alertname` label; observations name the rule by it.
        for_ms: how long the condition must hold before the alert fires (0: fires at once).
        keep_firing_for_ms: how long a firing alert keeps firing after the condition cleared.
        labels: added to the observed labels (and override them), as a rule's `labels:`.
        annotations: the alert's annotations (summary, runbook_url, ...).
        partial_observations: the caller observes the rule's label sets one by one, so a label
            set missing from an evaluation keeps its state instead of becoming inactive.
    """

    name: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    partial_observations: bool = False


@dataclass(frozen=True)
class EngineConfig:
    """The rules by name and the routing tree (inhibit rules and silences come per step).

    With `rules_complete`, `rules` lists every rule there is, and the alerts of any other rule
    (one removed since) resolve; without it (the default) `rules` need only hold the rules
    observed in the step, and alerts of the others keep their state.
    """

    rules: Mapping[str, AlertRule]
    route: Route
    rules_complete: bool = False

    @classmethod
    def of(
        cls, rules: Iterable[AlertRule], route: Route, *, rules_complete: bool = False
    ) -> EngineConfig:
        return cls({r.name: r for r in rules}, route, rules_complete)


@dataclass(frozen=True)
class Observation:
    """One evaluation of a rule for one label set: does the condition hold at `at`?

    `at` defaults to the step's `now`; observations are applied in order of `at`, so a caller
    catching up on several windows passes each window's end.
    """

    rule: str
    labels: Mapping[str, str]
    active: bool
    at: int | None = None
    value: float | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertStatus:
    """An alert as the caller shows it: its state and what mutes it."""

    alert: Alert
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]

    @property
    def is_suppressed(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class Notification:
    """What to send to one receiver for one group.

    `firing` and `resolved` are copies of the alerts (resolved is empty when the route does not
    send resolved alerts); `is_repeat` marks a re-send of an unchanged group after
    `repeat_interval`.
    """

    group_key: str
    receiver: str
    group_labels: dict[str, str]
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    is_repeat: bool
    at: int


def step(
    state: EngineState,
    observations: Sequence[Observation],
    silences: Sequence[Silence],
    inhibit_rules: Sequence[InhibitRule],
    config: EngineConfig,
    now: int,
) -> tuple[EngineState, list[Notification]]:
    """Apply the observations, then flush the groups that are due at `now`.

    The input state is not modified. Returns the new state and the notifications, ordered by
    group key.

    With `config.rules_complete`, alerts of rules no longer in `config.rules` resolve (pending
    ones are dropped).

    Raises:
        InvalidInput: an observation names a rule not in `config.rules`, or the root route has
            no receiver.
    """
    new = EngineState.from_json(state.to_json())
    settled = {
        fp: (a.active_at, a.resolved_at)
        for fp, a in state.alerts.items()
        if a.state is AlertState.RESOLVED
    }
    evaluations: dict[tuple[int, str], list[Observation]] = {}
    for obs in observations:
        evaluations.setdefault((now if obs.at is None else obs.at, obs.rule), []).append(obs)
    for (at, name), batch in sorted(evaluations.items()):
        _evaluate(new, name, batch, config, at)
    if config.rules_complete:
        _retire(new, config, now)
    _dispatch(new, config, now, settled)
    notifications = _flush(new, silences, inhibit_rules, config, now)
    _forget(new)
    return new, notifications


def alert_statuses(
    state: EngineState,
    silences: Sequence[Silence],
    inhibit_rules: Sequence[InhibitRule],
    now: int,
) -> list[AlertStatus]:
    """Every pending, firing or not yet notified resolved alert with what mutes it."""
    firing = _firing_sources(state)
    return [
        AlertStatus(
            alert,
            tuple(silenced_by(silences, alert.labels, now)),
            tuple(inhibited_by(inhibit_rules, firing, alert.labels))
            if alert.state is not AlertState.PENDING
            else (),
        )
        for alert in sorted(state.alerts.values(), key=fingerprint_of)
    ]


# -- rules ---------------------------------------------------------------------------------


def _evaluate(
    state: EngineState,
    name: str,
    observations: Sequence[Observation],
    config: EngineConfig,
    at: int,
) -> None:
    """One evaluation of a rule at `at`: its label sets not observed are inactive."""
    rule = config.rules.get(name)
    if rule is None:
        raise InvalidInput(f"no alerting rule named {name!r}", rule=name)
    # One evaluation has one sample per label set (as a query's result has one per series):
    # when the caller observed a label set twice at `at`, the last observation is the verdict.
    # Applying both in turn would pass through a state that a replay of the same evaluation
    # reaches differently (e.g. fire and resolve at once, then on replay start pending anew).
    latest: dict[str, tuple[dict[str, str], Observation]] = {}
    for obs in observations:
        labels = {**obs.labels, **rule.labels, "alertname": rule.name}
        fp = fingerprint(labels)
        latest.pop(fp, None)
        latest[fp] = (labels, obs)
    seen = set(latest)
    for fp, (labels, obs) in latest.items():
        annotations = {**rule.annotations, **obs.annotations}
        _transition(state, rule, fp, at, obs.active, labels, annotations, obs.value)
    if rule.partial_observations:
        return
    for fp in [fp for fp, a in state.alerts.items() if a.rule == rule.name and fp not in seen]:
        _transition(state, rule, fp, at, False)


def _transition(
    state: EngineState,
    rule: AlertRule,
    fp: str,
    at: int,
    active: bool,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    value: float | None = None,
) -> None:
    """Prometheus' `AlertingRule.Eval` for one label set."""
    alert = state.alerts.get(fp)
    if alert is not None and at < alert.last_evaluated_at:
        return  # an older evaluation replayed: the alert already moved past it
    if active:
        if alert is None or alert.state is AlertState.RESOLVED:
            alert = Alert(fp, rule.name, dict(labels or {}), {}, AlertState.PENDING, active_at=at)
            state.alerts[fp] = alert
        alert.annotations, alert.value = dict(annotations or {}), value
        alert.keep_firing_since = None
    elif alert is None or alert.state is AlertState.RESOLVED:
        return
    elif alert.state is AlertState.PENDING:
        del state.alerts[fp]
        return
    else:
        if alert.keep_firing_since is None:
            alert.keep_firing_since = at
        if at - alert.keep_firing_since >= rule.keep_firing_for_ms:
            alert.state, alert.resolved_at = AlertState.RESOLVED, at
            alert.last_evaluated_at = at
            return
    alert.last_evaluated_at = at
    if alert.state is AlertState.PENDING and at - alert.active_at >= rule.for_ms:
        alert.state, alert.fired_at = AlertState.FIRING, at


def _retire(state: EngineState, config: EngineConfig, now: int) -> None:
    # A rule that was removed stops being evaluated; its firing alerts resolve now (as
    # Alertmanager resolves alerts nobody refreshes) and its pending ones go.
    for fp, alert in list(state.alerts.items()):
        if alert.rule in config.rules:
            continue
        if alert.state is AlertState.PENDING:
            del state.alerts[fp]
        elif alert.state is AlertState.FIRING:
            alert.state, alert.resolved_at = AlertState.RESOLVED, now


# -- dispatch ------------------------------------------------------------------------------


def _dispatch(
    state: EngineState,
    config: EngineConfig,
    now: int,
    settled: Mapping[str, tuple[int, int | None]],
) -> None:
    """Put every firing alert, and every alert resolved in this step, into its routes' groups.

    An alert that was already resolved before this step (`settled`: fingerprint to its
    `(active_at, resolved_at)`) is not routed again: it was in every group it belongs to when
    it resolved, and the groups that have flushed it since let it go. Routing it again would
    put it back into those groups (or open new ones), so a replayed tick would regroup it.
    """
    root = route_of_group(config.route, "0:{}")
    if root.receiver is None:
        raise InvalidInput("the root route needs a receiver", field="route.receiver")
    for alert in state.alerts.values():
        if alert.state is AlertState.PENDING:
            continue
        if alert.state is AlertState.RESOLVED and settled.get(alert.fingerprint) == (
            alert.active_at,
            alert.resolved_at,
        ):
            continue
        for route, path in routes_for(root, alert.labels, "0"):
            labels = group_labels(route, alert.labels)
            key = group_key(path, labels)
            group = state.groups.get(key)
            if group is None:
                group = GroupState(
                    key,
                    str(route.receiver),
                    labels,
                    [],
                    created_at=now,
                    next_flush_at=now + int(route.group_wait_ms or 0),
                )
                state.groups[key] = group
            if alert.fingerprint not in group.alerts:
                group.alerts.append(alert.fingerprint)


def _firing_sources(state: EngineState) -> list[tuple[str, dict[str, str]]]:
    return [
        (a.fingerprint, a.labels) for a in state.alerts.values() if a.state is AlertState.FIRING
    ]


def _flush(
    state: EngineState,
    silences: Sequence[Silence],
    inhibit_rules: Sequence[InhibitRule],
    config: EngineConfig,
    now: int,
) -> list[Notification]:
    sources = _firing_sources(state)
    notifications: list[Notification] = []
    for key in sorted(state.groups):
        group = state.groups[key]
        if group.next_flush_at > now:
            continue
        route = route_of_group(config.route, key)
        group.receiver = str(route.receiver)  # the caller may have changed who receives it
        group.next_flush_at = now + int(route.group_interval_ms or 0)
        alerts = [
            state.alerts[fp]
            for fp in group.alerts
            if fp in state.alerts and state.alerts[fp].state is not AlertState.PENDING
        ]
        # Alertmanager's MuteStage drops silenced and inhibited alerts (resolved ones too)
        # before the DedupStage; when nothing is left the notification log is not touched.
        shown = [
            a
            for a in alerts
            if not silenced_by(silences, a.labels, now)
            and not inhibited_by(inhibit_rules, sources, a.labels)
        ]
        firing = [a for a in shown if a.state is AlertState.FIRING]
        resolved = [a for a in shown if a.state is AlertState.RESOLVED]
        firing_fps = {a.fingerprint for a in firing}
        resolved_fps = {a.fingerprint for a in resolved}
        send, repeat = (
            _needs_update(group, firing_fps, resolved_fps, route, now) if shown else (False, False)
        )
        if send:
            group.notified_at = now
            group.notified_firing = sorted(firing_fps)
            group.notified_resolved = sorted(resolved_fps)
            sent_resolved = resolved if route.send_resolved else []
            if firing or sent_resolved:
                notifications.append(
                    Notification(
                        key,
                        group.receiver,
                        dict(group.labels),
                        tuple(_copy(a) for a in sorted(firing, key=fingerprint_of)),
                        tuple(_copy(a) for a in sorted(sent_resolved, key=fingerprint_of)),
                        repeat,
                        now,
                    )
                )
        # Alertmanager drops resolved alerts from a group once a flush has seen them.
        gone = {a.fingerprint for a in alerts if a.state is AlertState.RESOLVED}
        group.alerts = [fp for fp in group.alerts if fp not in gone and fp in state.alerts]
    return notifications


def _needs_update(
    group: GroupState, firing: set[str], resolved: set[str], route: Route, now: int
) -> tuple[bool, bool]:
    """Alertmanager's DedupStage: (notify?, is it a repeat?)."""
    if group.notified_at is None:
        return bool(firing), False
    if not firing <= set(group.notified_firing):
        return True, False
    if not firing:
        return bool(group.notified_firing), False
    if route.send_resolved and not resolved <= set(group.notified_resolved):
        return True, False
    due = now - group.notified_at >= int(route.repeat_interval_ms or 0)
    return due, due


def _forget(state: EngineState) -> None:
    held = {fp for g in state.groups.values() for fp in g.alerts}
    for fp in [fp for fp, a in state.alerts.items() if a.state is AlertState.RESOLVED]:
        if fp not in held:
            del state.alerts[fp]
    # An empty group ends, with its notification log entry: an alert firing again later starts
    # a new group and is notified after group_wait.
    for key in [k for k, g in state.groups.items() if not g.alerts]:
        del state.groups[key]


def _copy(alert: Alert) -> Alert:
    return replace(alert, labels=dict(alert.labels), annotations=dict(alert.annotations))
