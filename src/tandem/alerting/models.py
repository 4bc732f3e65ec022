"""Alerts, silences, per-project alert settings and deliveries: the shapes shared by the hub, the
SDK and the CLI (docs/alerts.md, ADR 25).

An alert is one firing of a monitor's condition on an endpoint, identified by its
`fingerprint` (a stable hash of its labels, also PagerDuty's dedup key). Its life follows
Prometheus' rule states (pending → firing → resolved); the engine (`tandem.alerting.engine`)
decides, this domain keeps the state, routes it by the project's RACI and delivers it.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import NonNegativeInt

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class AlertState(enum.StrEnum):
    PENDING = "pending"  # breached, but not yet for the rule's `for`
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertSeverity(enum.StrEnum):
    """As a monitor's severity: a page wakes someone (and opens an incident), a ticket waits
    for working hours, info is only shown."""

    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


class Channel(enum.StrEnum):
    APP = "app"  # an in-app notification (the Notifier) to each recipient
    WEBHOOK = "webhook"  # the project's Slack-compatible webhook, {"text": ...}
    PAGERDUTY = "pagerduty"  # a PagerDuty Events v2 event


class DeliveryKind(enum.StrEnum):
    TRIGGER = "trigger"  # an alert (or a group of them) fired, or is repeated
    RESOLVE = "resolve"  # an alert recovered
    ESCALATE = "escalate"  # nobody acknowledged within `escalate_after`: to the Accountable
    ACKNOWLEDGE = "acknowledge"  # someone acknowledged it (PagerDuty is told)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # due at `next_attempt_at` (a first attempt or a retry)
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt (`last_error` says why)


class Alert(BaseModel):
    """One alert: a monitor's breach on an endpoint, from its start to its resolution."""

    id: str = Field(description="short and stable, e.g. al-3f9a1c0d")
    project: str
    fingerprint: str = Field(description="a stable hash of the labels; PagerDuty's dedup key")
    name: str = Field(description="the alert's name (the monitor's), label `alertname`")
    endpoint: str | None = None
    severity: AlertSeverity
    state: AlertState
    labels: dict[str, str] = {}
    annotations: dict[str, str] = Field(
        {}, description="summary, description, runbook_url (the monitor's runbook)"
    )
    value: float | None = Field(None, description="the monitor's value at the last evaluation")
    starts_at: int = Field(description="when the condition first held (ms)")
    fired_at: int | None = Field(None, description="when it began firing (after `for`)")
    ends_at: int | None = Field(None, description="when it resolved (ms)")
    updated_at: int
    acked_by: str | None = None
    acked_at: int | None = None
    notified_at: int | None = Field(
        None, description="when it was first notified to its responders (escalation counts from it)"
    )
    escalated_at: int | None = None
    recipients: list[str] = Field([], description="the members it was routed to (by the RACI)")
    silenced_by: list[str] = Field([], description="ids of the silences muting it now")
    inhibited: bool = False
    incident: str | None = Field(
        None, description="the incident a page opened or joined, e.g. churn/incidents/3"
    )


class AlertAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=2000)


class Silence(BaseModel):
    """Alertmanager's silence: alerts whose labels match every matcher are muted from
    `starts_at` until `ends_at`."""

    id: str = Field(description="e.g. si-3f9a1c0d")
    project: str
    matchers: list[str] = Field(description='e.g. ["endpoint=prod", "severity=~page|ticket"]')
    starts_at: int
    ends_at: int
    author: str
    comment: str
    created_at: int
    expired_at: int | None = Field(None, description="set when someone expired it early")
    expired_by: str | None = None
    active: bool = Field(description="muting now (started, not ended, not expired)")


class SilenceCreate(BaseModel):
    """A silence needs an end: `ends` (an instant, ISO-8601 or ms) or `duration` (`2h`)."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str] = Field(
        min_length=1,
        max_length=20,
        description="label matchers: name=value, name!=value, name=~regex, name!~regex",
    )
    duration: str | None = Field(None, description="how long from `starts`, e.g. 2h, 30m, 1d")
    ends: str | None = Field(None, description="an instant, ISO-8601 (UTC) or ms since the epoch")
    starts: str | None = Field(None, description="default: now")
    comment: str = Field(min_length=1, max_length=2000, description="why; required")


class AlertSettings(BaseModel):
    """A project's alert routing: Alertmanager's grouping and timing, the escalation delay and
    the PagerDuty service. Durations in seconds."""

    project: str
    group_by: list[str] = Field(
        description="labels an alert group shares, e.g. alertname, endpoint"
    )
    group_wait_s: int
    group_interval_s: int
    repeat_interval_s: int
    escalate_after_s: int = Field(
        description="seconds a firing page or ticket may go unacknowledged before the RACI's "
        "Accountable is told"
    )
    pagerduty_url: str
    pagerduty_routing_key: str | None = Field(
        None, description="shown masked (its last 4 characters): it lets anyone page the team"
    )
    updated_at: int | None = None
    updated_by: str | None = None


class AlertSettingsUpdate(BaseModel):
    """Durations as `30s`, `5m`, `4h`, `1d`; fields left out keep their value. A routing key of
    "" removes PagerDuty."""

    model_config = ConfigDict(extra="forbid")

    group_by: list[str] | None = Field(None, max_length=20)
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    escalate_after: str | None = None
    pagerduty_routing_key: str | None = Field(None, max_length=64)
    pagerduty_url: str | None = Field(None, max_length=2000)


class Delivery(BaseModel):
    """One message to one channel, queued when the alert changed and sent by `deliver_due`
    with retries and exponential backoff."""

    id: str = Field(description="e.g. dl-3f9a1c0d")
    project: str
    alert: str | None = Field(None, description="the alert's id (the first of its group)")
    fingerprint: str
    channel: Channel
    kind: DeliveryKind
    target: str = Field(description="who or where: member names, or the webhook's host")
    state: DeliveryState
    attempts: NonNegativeInt
    next_attempt_at: int | None
    last_error: str | None = None
    created_at: int
    sent_at: int | None = None


class TickSummary(BaseModel):
    """What one `tick` did."""

    results: int = Field(0, description="monitor results read")
    firing: int = Field(0, description="alerts firing after the tick")
    new_firing: int = 0
    resolved: int = 0
    queued: int = Field(0, description="deliveries queued")
    escalated: int = 0
    pages: int = Field(0, description="page alerts handed to the incidents domain")
    failed: list[str] = Field(
        default_factory=list,
        description="projects whose step failed: rolled back alone, their results read again "
        "at the next tick",
    )


class DeliverySummary(BaseModel):
    """What one `deliver_due` did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


class ResultInput(BaseModel):
    """What alerting reads of a monitor result (monitoring's `MonitorResult` carries these): kept as
    a shape of its own so that a test, or another source, can feed `tick` directly."""

    project: str
    monitor: str
    endpoint: str | None = None
    version: str | None = None
    severity: AlertSeverity = AlertSeverity.TICKET
    breached: bool | None = Field(description="None: no data in the window")
    value: float | None = None
    window_end: int
    for_s: int = Field(0, ge=0, le=30 * 86_400, description="the rule's `for`, seconds")
    keep_firing_for_s: int = Field(0, ge=0, le=30 * 86_400)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    runbook: str | None = None
    details: dict[str, Any] = {}
