"""The alert engine's state: alerts and aggregation groups, plain data that round-trips JSON.

`EngineState.to_json()` gives dicts, lists, strings, ints, floats and None only (what a JSON
column stores); `EngineState.from_json()` reads it back. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

STATE_VERSION = 1


class AlertState(StrEnum):
    """An alert's state: pending and firing as in Prometheus, resolved once it stopped."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass
class Alert:
    """An alert of one rule for one label set (`labels` include `alertname` and rule labels)."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_at: int
    fired_at: int | None = None
    resolved_at: int | None = None
    keep_firing_since: int | None = None
    last_evaluated_at: int = 0
    value: float | None = None


@dataclass
class GroupState:
    """One aggregation group of a route and its notification log entry."""

    key: str
    receiver: str
    labels: dict[str, str]
    alerts: list[str]
    created_at: int
    next_flush_at: int
    notified_at: int | None = None
    notified_firing: list[str] = field(default_factory=list)
    notified_resolved: list[str] = field(default_factory=list)


@dataclass
class EngineState:
    """Everything the engine remembers between steps, JSON-serialisable."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (dicts, lists, str, int, float, None)."""
        return {
            "version": self.version,
            "alerts": [_alert_json(a) for a in sorted(self.alerts.values(), key=fingerprint_of)],
            "groups": [_group_json(g) for _, g in sorted(self.groups.items())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EngineState:
        """The state `to_json` wrote."""
        alerts = [_alert_from(a) for a in data.get("alerts", ())]
        groups = [_group_from(g) for g in data.get("groups", ())]
        return cls(
            {a.fingerprint: a for a in alerts},
            {g.key: g for g in groups},
            int(data.get("version", 1)),
        )


def fingerprint_of(alert: Alert) -> str:
    return alert.fingerprint


def _alert_json(a: Alert) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "labels": dict(sorted(a.labels.items())),
        "annotations": dict(sorted(a.annotations.items())),
        "state": a.state.value,
        "active_at": a.active_at,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
        "keep_firing_since": a.keep_firing_since,
        "last_evaluated_at": a.last_evaluated_at,
        "value": a.value,
    }


def _alert_from(d: Mapping[str, Any]) -> Alert:
    return Alert(
        fingerprint=str(d["fingerprint"]),
        rule=str(d["rule"]),
        labels={str(k): str(v) for k, v in d["labels"].items()},
        annotations={str(k): str(v) for k, v in d.get("annotations", {}).items()},
        state=AlertState(d["state"]),
        active_at=int(d["active_at"]),
        fired_at=_int(d.get("fired_at")),
        resolved_at=_int(d.get("resolved_at")),
        keep_firing_since=_int(d.get("keep_firing_since")),
        last_evaluated_at=int(d.get("last_evaluated_at", 0)),
        value=None if d.get("value") is None else float(d["value"]),
    )


def _group_json(g: GroupState) -> dict[str, Any]:
    return {
        "key": g.key,
        "receiver": g.receiver,
        "labels": dict(sorted(g.labels.items())),
        "alerts": list(g.alerts),
        "created_at": g.created_at,
        "next_flush_at": g.next_flush_at,
        "notified_at": g.notified_at,
        "notified_firing": list(g.notified_firing),
        "notified_resolved": list(g.notified_resolved),
    }


def _group_from(d: Mapping[str, Any]) -> GroupState:
    return GroupState(
        key=str(d["key"]),
        receiver=str(d["receiver"]),
        labels={str(k): str(v) for k, v in d["labels"].items()},
        alerts=[str(fp) for fp in d["alerts"]],
        created_at=int(d["created_at"]),
        next_flush_at=int(d["next_flush_at"]),
        notified_at=_int(d.get("notified_at")),
        notified_firing=[str(fp) for fp in d.get("notified_firing", ())],
        notified_resolved=[str(fp) for fp in d.get("notified_resolved", ())],
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
