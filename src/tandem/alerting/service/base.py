"""The parts of AlertService every operation shares: its collaborators, the project's
settings, routing by the RACI, the delivery rows, and alerts as the faces see them."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from tandem.alerting.engine import (
    EngineState,
    Route,
    alert_statuses,
)
from tandem.alerting.matchers import InhibitRule, Matcher, MatchType, Silence, parse_matchers
from tandem.alerting.messages import (
    AlertFacts,
)
from tandem.alerting.models import (
    PAGERDUTY_EVENTS_URL,
    Alert,
    AlertSettings,
    AlertSeverity,
    AlertState,
    Channel,
    DeliveryKind,
    ResultInput,
)
from tandem.alerting.models import Silence as SilenceModel
from tandem.alerting.store import AlertStore, DeliveryStore, SilenceStore
from tandem.audit.service import AuditLog
from tandem.core.auth import Authorizer
from tandem.core.outbound import OutboundPolicy
from tandem.errors import InvalidInput, NotFound
from tandem.governance.notifications.service import Notifier
from tandem.projects.service import ProjectService
from tandem.store.db import Database

FEED = "monitor-results"  # the cursor's name
MONITORING = "monitoring"  # RACI activities
INCIDENT_RESPONSE = "incident-response"
DEFAULT_GROUP_BY = ("alertname", "endpoint")
DEFAULTS = {
    "group_wait_s": 30,
    "group_interval_s": 300,
    "repeat_interval_s": 4 * 3600,
    "escalate_after_s": 30 * 60,
}
LIMITS = {  # (least, most) seconds
    "group_wait_s": (0, 86_400),
    "group_interval_s": (1, 86_400),
    "repeat_interval_s": (60, 30 * 86_400),
    "escalate_after_s": (60, 7 * 86_400),
}
DELIVERY_TIMEOUT_S = 3.0
FIRST_RETRY_MS = 30_000  # then doubling: 30 s, 1 min, 2 min, ... at most MAX_RETRY_MS
MAX_RETRY_MS = 3_600_000
MAX_ATTEMPTS = 8
LEASE_MS = 120_000  # a claimed delivery whose worker died is tried again after this
DUE_BATCH = 100
MAX_SILENCE_MS = 366 * 86_400_000
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{1,64}$")
PAGE_INHIBITS = InhibitRule(
    source=(Matcher("severity", MatchType.EQUAL, "page"),),
    target=(Matcher("severity", MatchType.REGEX, "ticket|info"),),
    equal=("endpoint",),
    name="a page mutes the tickets and infos of its endpoint",
)

ResultFeed = Callable[[Connection, str | None], tuple[list[ResultInput], str | None]]
"""(conn, cursor) -> (the results after `cursor`, in order, and the cursor after them): the
monitoring domain's `results_since`, adapted by `monitor_feed` (or a test's own list)."""

RaciLetters = Callable[[Connection, int, str], dict[str, str]]
"""(conn, project_pk, activity) -> {member: "R" | "A" | "C" | "I"}: `PlanService.
activity_letters`, wired by the container."""


class PageHandler(Protocol):
    """Who opens an incident for a page (the incidents domain; the container wires it)."""

    def on_page(
        self, conn: Connection, project_pk: int, endpoint: str | None, alert: Alert
    ) -> int | str | None:
        """Open an incident for a page alert, or join the open one of `endpoint`, inside the
        tick's transaction; returns the incident's number (or reference), shown on the alert."""
        ...


@dataclass(frozen=True)
class ProjectSettings:
    group_by: tuple[str, ...]
    group_wait_s: int
    group_interval_s: int
    repeat_interval_s: int
    escalate_after_s: int
    pagerduty_url: str
    pagerduty_routing_key: str | None
    updated_at: int | None = None
    updated_by: str | None = None


class AlertCore:
    def __init__(
        self,
        db: Database,
        store: AlertStore,
        silences: SilenceStore,
        deliveries: DeliveryStore,
        projects: ProjectService,
        notifier: Notifier,
        auth: Authorizer,
        audit: AuditLog,
        outbound: OutboundPolicy | None = None,
        *,
        raci: RaciLetters,
        feed: ResultFeed | None = None,
        page_handler: PageHandler | None = None,
        public_url: str | None = None,
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        self.db = db
        self.store = store
        self.silence_store = silences
        self.delivery_store = deliveries
        self.projects = projects
        self.notifier = notifier
        self.auth = auth
        self.audit = audit
        self.outbound = outbound or OutboundPolicy()
        self.raci = raci
        self.feed = feed
        self.page_handler = page_handler
        self.base = (public_url or "").rstrip("/")
        self.delivery_timeout_s = delivery_timeout_s

    def use_feed(self, feed: ResultFeed) -> None:
        """Where `tick` reads monitor results (the container: `monitor_feed(monitoring)`)."""
        self.feed = feed

    def use_page_handler(self, handler: PageHandler) -> None:
        """Who opens incidents for pages (the container: the incidents domain)."""
        self.page_handler = handler

    def _route_members(self, conn: Connection, pk: int, activity: str) -> list[str]:
        """Responsible for the activity, else its Accountable; a page falls back to
        `monitoring`'s when nobody holds `incident-response`."""
        letters = self.raci(conn, pk, activity)
        for letter in ("R", "A"):
            named = sorted(m for m, held in letters.items() if held == letter)
            if named:
                return named
        if activity != MONITORING:
            return self._route_members(conn, pk, MONITORING)
        return []

    def _accountable(self, conn: Connection, pk: int, activity: str) -> list[str]:
        named = sorted(m for m, held in self.raci(conn, pk, activity).items() if held == "A")
        if not named and activity != MONITORING:
            return self._accountable(conn, pk, MONITORING)
        return named

    def _settings(self, conn: Connection, pk: int) -> ProjectSettings:
        row = self.store.settings(conn, pk)
        if row is None:
            return ProjectSettings(
                DEFAULT_GROUP_BY,
                DEFAULTS["group_wait_s"],
                DEFAULTS["group_interval_s"],
                DEFAULTS["repeat_interval_s"],
                DEFAULTS["escalate_after_s"],
                PAGERDUTY_EVENTS_URL,
                None,
            )
        return ProjectSettings(
            tuple(json.loads(row.group_by)),
            row.group_wait_s,
            row.group_interval_s,
            row.repeat_interval_s,
            row.escalate_after_s,
            row.pagerduty_url,
            row.pagerduty_routing_key,
            row.updated_at,
            row.updated_by,
        )

    def _engine_silences(self, conn: Connection, pk: int, now: int) -> list[Silence]:
        return [
            Silence(
                r.id,
                parse_matchers(json.loads(r.matchers)),
                int(r.starts_at),
                int(r.ends_at if r.expired_at is None else min(r.ends_at, r.expired_at)),
                r.author,
                r.comment,
            )
            for r in self.silence_store.list(conn, pk, current_at=now)
        ]

    def _queue(
        self,
        conn: Connection,
        pk: int,
        alert_pk: int,
        fingerprint: str,
        channel: Channel,
        kind: DeliveryKind,
        target: str,
        body: dict[str, Any],
        now: int,
        *,
        sent: bool = False,
    ) -> None:
        self.delivery_store.add(
            conn,
            [
                {
                    "id": new_id("dl"),
                    "project_pk": pk,
                    "alert_pk": alert_pk,
                    "fingerprint": fingerprint,
                    "channel": channel.value,
                    "kind": kind.value,
                    "target": target,
                    "body": json.dumps(body),
                    "state": "sent" if sent else "pending",
                    "attempts": 1 if sent else 0,
                    "next_attempt_at": None if sent else now,
                    "created_at": now,
                    "sent_at": now if sent else None,
                }
            ],
        )

    def _paged(self, conn: Connection, pk: int, alert_pk: int) -> bool:
        """Whether a PagerDuty trigger was queued for the alert."""
        return any(
            r.channel == Channel.PAGERDUTY.value and r.kind == DeliveryKind.TRIGGER.value
            for r in self.delivery_store.list(conn, pk, alert_pk=alert_pk, limit=1000)
        )

    def _find(self, conn: Connection, pk: int, project: str, alert_id: str) -> Any:
        row = self.store.find_alert(conn, pk, alert_id)
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist in {project}")
        return row

    def _reload(self, conn: Connection, alert_pk: int) -> Any:
        return self.store.alert_by_pk(conn, alert_pk)

    def _facts(self, project: str, row: Any) -> AlertFacts:
        return AlertFacts(
            id=row.id,
            fingerprint=row.fingerprint,
            project=project,
            name=row.name,
            endpoint=row.endpoint,
            severity=row.severity,
            labels=json.loads(row.labels),
            annotations=json.loads(row.annotations),
            value=row.value,
            starts_at=int(row.starts_at),
            ends_at=row.ends_at,
        )

    def _alerts(
        self, conn: Connection, pk: int, project: str, rows: Iterable[Any], now: int
    ) -> list[Alert]:
        rows = list(rows)
        if not rows:
            return []
        silences = self._engine_silences(conn, pk, now)
        raw = self.store.engine_state(conn, pk)
        state = EngineState.from_json(json.loads(raw)) if raw else EngineState()
        inhibited = {
            s.alert.fingerprint
            for s in alert_statuses(state, silences, [PAGE_INHIBITS], now)
            if s.inhibited_by
        }
        out = []
        for r in rows:
            labels = json.loads(r.labels)
            is_open = r.state != AlertState.RESOLVED.value
            out.append(
                Alert(
                    id=r.id,
                    project=project,
                    fingerprint=r.fingerprint,
                    name=r.name,
                    endpoint=r.endpoint,
                    severity=AlertSeverity(r.severity),
                    state=AlertState(r.state),
                    labels=labels,
                    annotations=json.loads(r.annotations),
                    value=r.value,
                    starts_at=r.starts_at,
                    fired_at=r.fired_at,
                    ends_at=r.ends_at,
                    updated_at=r.updated_at,
                    acked_by=r.acked_by,
                    acked_at=r.acked_at,
                    notified_at=r.notified_at,
                    escalated_at=r.escalated_at,
                    recipients=json.loads(r.recipients),
                    silenced_by=sorted(s.id for s in silences if s.mutes(labels, now))
                    if is_open
                    else [],
                    inhibited=is_open and r.fingerprint in inhibited,
                    incident=r.incident,
                )
            )
        return out


def route_tree(settings: ProjectSettings) -> Route:
    """The routing tree: pages to `incident-response`, the rest to `monitoring` (receivers
    name RACI activities), grouped and timed by the project's settings."""
    return Route(
        receiver=MONITORING,
        group_by=settings.group_by,
        group_wait_ms=settings.group_wait_s * 1000,
        group_interval_ms=settings.group_interval_s * 1000,
        repeat_interval_ms=settings.repeat_interval_s * 1000,
        send_resolved=True,
        routes=(
            Route(
                receiver=INCIDENT_RESPONSE,
                matchers=(Matcher("severity", MatchType.EQUAL, AlertSeverity.PAGE.value),),
            ),
        ),
    )


def settings_model(project: str, s: ProjectSettings) -> AlertSettings:
    key = s.pagerduty_routing_key
    return AlertSettings(
        project=project,
        group_by=list(s.group_by),
        group_wait_s=s.group_wait_s,
        group_interval_s=s.group_interval_s,
        repeat_interval_s=s.repeat_interval_s,
        escalate_after_s=s.escalate_after_s,
        pagerduty_url=s.pagerduty_url,
        pagerduty_routing_key=("…" + key[-4:]) if key else None,
        updated_at=s.updated_at,
        updated_by=s.updated_by,
    )


def silence_model(project: str, row: Any, now: int) -> SilenceModel:
    ends = row.ends_at if row.expired_at is None else min(row.ends_at, row.expired_at)
    return SilenceModel(
        id=row.id,
        project=project,
        matchers=json.loads(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        author=row.author,
        comment=row.comment,
        created_at=row.created_at,
        expired_at=row.expired_at,
        expired_by=row.expired_by,
        active=row.starts_at <= now < ends,
    )


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def parse_enum(kind: Any, value: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise InvalidInput(f"unknown {name} {value!r}: use one of {allowed}") from None
