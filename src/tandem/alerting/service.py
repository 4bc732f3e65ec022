"""AlertService: monitors' results become alerts (the pure engine, `tandem.alerting.engine`,
decides their state, grouping, silences and inhibition), routed to the members the project's
RACI names and delivered in the app, to the project's webhook and to PagerDuty.

- `tick(principal, now)` reads the monitor results not read yet (a cursor, locked for the
  transaction, so two workers never read the same results), steps each project's engine,
  persists its state and the alerts, writes the in-app notifications, queues the webhook and
  PagerDuty messages, escalates, and hands new page alerts to the incidents domain
  (`PageHandler`) — all in one transaction: a tick that dies leaves nothing half-written.
- `deliver_due(principal, now)` sends what is due, outside any transaction of the tick, with a
  short timeout; a failure is retried with exponential backoff, and the state of each delivery
  is kept (`deliveries`). A slow or failing receiver delays only its own messages.

Routing: a `ticket` or `info` alert goes to the members Responsible for `monitoring`, a `page`
to those Responsible for `incident-response` (then `monitoring`); with no one Responsible, to
the Accountable. A firing alert nobody acknowledged within `escalate_after` goes to the
Accountable too (ADR 25).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection

from tandem.alerting.engine import (
    AlertRule,
    EngineConfig,
    EngineState,
    Notification,
    Observation,
    Route,
    alert_statuses,
    step,
)
from tandem.alerting.engine import AlertState as EngineAlertState
from tandem.alerting.engine import parse_duration as parse_span
from tandem.alerting.matchers import InhibitRule, Matcher, MatchType, Silence, parse_matchers
from tandem.alerting.messages import (
    AlertFacts,
    app_message,
    escalation_text,
    group_text,
    page_link,
    pagerduty_follow_up,
    pagerduty_trigger,
)
from tandem.alerting.models import (
    PAGERDUTY_EVENTS_URL,
    Alert,
    AlertSettings,
    AlertSettingsUpdate,
    AlertSeverity,
    AlertState,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryState,
    DeliverySummary,
    ResultInput,
    SilenceCreate,
    TickSummary,
)
from tandem.alerting.models import Silence as SilenceModel
from tandem.alerting.store import AlertStore, DeliveryStore, SilenceStore
from tandem.audit.service import FAILED, AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms, parse_instant
from tandem.core.outbound import OutboundPolicy
from tandem.errors import Conflict, DestinationRefused, InvalidInput, NotFound
from tandem.governance.notifications.service import Notifier, Outbox
from tandem.monitoring.models import Monitor, MonitorResult, duration_ms
from tandem.monitoring.service import MonitoringService
from tandem.projects.service import ProjectService
from tandem.store.db import Database

log = logging.getLogger(__name__)

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
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{1,64}$")
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
    ) -> str | None:
        """Open an incident for a page alert, or join the open one of `endpoint`, inside the
        tick's transaction; returns the incident's reference (shown on the alert)."""
        ...


@dataclass(frozen=True)
class _Settings:
    group_by: tuple[str, ...]
    group_wait_s: int
    group_interval_s: int
    repeat_interval_s: int
    escalate_after_s: int
    pagerduty_url: str
    pagerduty_routing_key: str | None
    updated_at: int | None = None
    updated_by: str | None = None


class AlertService:
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

    # -- the worker's side -----------------------------------------------------------------

    def tick(self, principal: Principal, now: int | None = None) -> TickSummary:
        """Read the new monitor results, step every project's engine, persist the alerts, and
        queue their notifications; one transaction. Needs `monitor:write` in every project
        (the worker's system principal, or the workspace's owner).

        Args:
            principal: who evaluates (audited as the actor of the alerts' changes).
            now: the time in ms (a controllable clock); default: now.
        """
        self.auth.require(principal, Action.MONITOR_WRITE)
        now = now_ms() if now is None else now
        summary = TickSummary()
        with self.db.write() as conn:
            cursor = self.store.lock_cursor(conn, FEED, now)
            results, after = self.feed(conn, cursor) if self.feed is not None else ([], cursor)
            summary.results = len(results)
            by_project: dict[int, list[ResultInput]] = {}
            names: dict[int, str] = {}
            for result in results:
                pk = self.projects.find_pk_in(conn, result.project)
                if pk is None:
                    continue  # a project deleted since: its results go with it
                by_project.setdefault(pk, []).append(result)
                names[pk] = result.project
            pks = set(by_project) | set(self.store.projects_with_state(conn))
            missing = {pk for pk in pks if pk not in names}
            names.update(self.projects.names(conn, missing))
            for pk in sorted(pks):
                if pk in names:
                    self._step_project(
                        conn, principal, pk, names[pk], by_project.get(pk, []), now, summary
                    )
            if after is not None and after != cursor:
                self.store.set_cursor(conn, FEED, after, now)
        return summary

    def deliver_due(
        self, principal: Principal, now: int | None = None, *, limit: int = DUE_BATCH
    ) -> DeliverySummary:
        """Send the queued webhook and PagerDuty messages that are due: each is claimed in a
        short transaction, sent with a short timeout outside it, and its outcome recorded; a
        failure is retried with exponential backoff up to MAX_ATTEMPTS. Never raises for a
        receiver's failure. Needs `monitor:write` in every project (the worker)."""
        self.auth.require(principal, Action.MONITOR_WRITE)
        now = now_ms() if now is None else now
        claimed: list[tuple[_Claim, str | None, str | None]] = []  # (claim, url, routing key)
        with self.db.write() as conn:
            for row in self.delivery_store.due(conn, now, limit):
                attempts = int(row.attempts) + 1
                if not self.delivery_store.claim(
                    conn, row.pk, row.next_attempt_at, attempts, now + LEASE_MS
                ):
                    continue  # another worker took it
                url, key = self._destination(conn, row)
                claim = _Claim(row.pk, row.id, row.project_pk, row.channel, row.body, attempts)
                claimed.append((claim, url, key))
        summary = DeliverySummary()
        for row, url, key in claimed:
            error, final = self._send(row, url, key)
            with self.db.write() as conn:
                if error is None:
                    self.delivery_store.finish(
                        conn,
                        row.pk,
                        {"state": "sent", "sent_at": now, "next_attempt_at": None,
                         "last_error": None},
                    )  # fmt: skip
                    summary.sent += 1
                    continue
                if final or row.attempts >= MAX_ATTEMPTS:
                    self.delivery_store.finish(
                        conn,
                        row.pk,
                        {"state": "failed", "next_attempt_at": None, "last_error": error[:500]},
                    )
                    self._record_failed(conn, principal, row, error)
                    summary.failed += 1
                else:
                    delay = min(FIRST_RETRY_MS * 2 ** (row.attempts - 1), MAX_RETRY_MS)
                    self.delivery_store.finish(
                        conn, row.pk, {"next_attempt_at": now + delay, "last_error": error[:500]}
                    )
                    summary.retrying += 1
        return summary

    # -- people's side -----------------------------------------------------------------------

    def list_alerts(
        self,
        principal: Principal,
        project: str,
        *,
        state: str | None = None,
        endpoint: str | None = None,
        limit: int = 100,
        now: int | None = None,
    ) -> list[Alert]:
        """The project's alerts, newest first; `state` one of pending, firing, resolved, or
        "open" (pending and firing)."""
        states: list[str] | None = None
        if state == "open":
            states = [AlertState.PENDING.value, AlertState.FIRING.value]
        elif state is not None:
            states = [_parse_enum(AlertState, state, "state").value]
        now = now_ms() if now is None else now
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            rows = self.store.list_alerts(
                conn, pk, states=states, endpoint=endpoint, limit=max(1, min(limit, 1000))
            )
            return self._alerts(conn, pk, project, rows, now)

    def get_alert(self, principal: Principal, project: str, alert_id: str) -> Alert:
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            row = self._find(conn, pk, project, alert_id)
            return self._alerts(conn, pk, project, [row], now_ms())[0]

    def ack(self, principal: Principal, project: str, alert_id: str, comment: str = "") -> Alert:
        """Acknowledge a pending or firing alert: it is no longer escalated, and PagerDuty is
        told (`acknowledge`, same dedup key) when it was paged.

        Raises:
            Conflict: the alert is resolved, or someone acknowledged it already.
        """
        now = now_ms()
        with self.db.write() as conn:
            pk = self.projects.access(conn, principal, project, Action.INCIDENT_WRITE)
            row = self._find(conn, pk, project, alert_id)
            if row.state == AlertState.RESOLVED.value:
                raise Conflict(f"alert {alert_id} is resolved: there is nothing to acknowledge")
            if row.acked_by is not None:
                raise Conflict(f"alert {alert_id} was acknowledged by {row.acked_by} already")
            self.store.update_alert(conn, row.pk, {"acked_by": principal.name, "acked_at": now})
            if self._paged(conn, pk, row.pk):
                facts = self._facts(project, row)
                self._queue(conn, pk, row.pk, row.fingerprint, Channel.PAGERDUTY,
                            DeliveryKind.ACKNOWLEDGE, "pagerduty",
                            pagerduty_follow_up(facts, "acknowledge"), now)  # fmt: skip
            self.audit.record(
                conn, principal, "alert.ack", f"{project}/alerts/{alert_id}", project=project,
                comment=comment[:500],
            )  # fmt: skip
        return self.get_alert(principal, project, alert_id)

    def history(
        self, conn: Connection, project_pk: int, endpoint: str | None, since: int, until: int
    ) -> list[Alert]:
        """The alerts of `endpoint` open at some time in [since, until), oldest first, for the
        incidents domain's timeline inside its transaction. No permission check: the caller
        checked its access to the project."""
        project = self.projects.names(conn, {project_pk}).get(project_pk, "")
        rows = self.store.list_alerts(
            conn, project_pk, endpoint=endpoint, since=since, until=until, limit=1000
        )
        return list(reversed(self._alerts(conn, project_pk, project, rows, until)))

    # -- silences --------------------------------------------------------------------------

    def create_silence(
        self, principal: Principal, project: str, data: SilenceCreate, now: int | None = None
    ) -> SilenceModel:
        """Mute the alerts matching every matcher until the silence ends; an end is required
        (`ends` or `duration`), and the author is whoever creates it.

        Raises:
            InvalidInput: a malformed matcher, matchers that match every alert, no end, an end
                before the start or more than a year away.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)  # before reading input
        now = now_ms() if now is None else now
        starts = parse_instant(data.starts) if data.starts else now
        if data.ends and data.duration:
            raise InvalidInput("give the silence's end as `ends` or `duration`, not both")
        if data.ends:
            ends: int | None = parse_instant(data.ends)
        elif data.duration:
            ends = starts + parse_span(data.duration)
        else:
            ends = None
        silence_id = _new_id("si")
        checked = Silence.create(
            silence_id, data.matchers, starts_at=starts, ends_at=ends,
            created_by=principal.name, comment=data.comment,
        )  # fmt: skip
        if checked.ends_at - max(starts, now) > MAX_SILENCE_MS:
            raise InvalidInput("a silence may last a year at most", field="ends")
        if checked.ends_at <= now:
            raise InvalidInput("the silence would have ended already", field="ends")
        with self.db.write() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            self.silence_store.add(
                conn,
                {
                    "id": silence_id,
                    "project_pk": pk,
                    "matchers": json.dumps([str(m) for m in checked.matchers]),
                    "starts_at": checked.starts_at,
                    "ends_at": checked.ends_at,
                    "author": principal.name,
                    "comment": data.comment,
                    "created_at": now,
                },
            )
            self.audit.record(
                conn, principal, "silence.create", f"{project}/silences/{silence_id}",
                project=project, matchers=[str(m) for m in checked.matchers],
                ends_at=checked.ends_at,
            )  # fmt: skip
            row = self.silence_store.find(conn, pk, silence_id)
        return _silence(project, row, now)

    def list_silences(
        self, principal: Principal, project: str, *, all: bool = False, now: int | None = None
    ) -> list[SilenceModel]:
        """The project's silences that have not ended (every one with `all`), newest first."""
        now = now_ms() if now is None else now
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            rows = self.silence_store.list(conn, pk, current_at=None if all else now)
        return [_silence(project, r, now) for r in rows]

    def expire_silence(
        self, principal: Principal, project: str, silence_id: str, now: int | None = None
    ) -> SilenceModel:
        """End a silence now (the alerts it muted are notified at the next tick)."""
        now = now_ms() if now is None else now
        with self.db.write() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            row = self.silence_store.find(conn, pk, silence_id)
            if row is None:
                raise NotFound(f"silence {silence_id} does not exist in {project}")
            if row.expired_at is not None or row.ends_at <= now:
                raise Conflict(f"silence {silence_id} has ended already")
            self.silence_store.expire(conn, row.pk, principal.name, now)
            self.audit.record(
                conn, principal, "silence.expire", f"{project}/silences/{silence_id}",
                project=project,
            )  # fmt: skip
            row = self.silence_store.find(conn, pk, silence_id)
        return _silence(project, row, now)

    # -- settings ----------------------------------------------------------------------------

    def get_settings(self, principal: Principal, project: str) -> AlertSettings:
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return _settings_model(project, self._settings(conn, pk))

    def set_settings(
        self, principal: Principal, project: str, data: AlertSettingsUpdate
    ) -> AlertSettings:
        """Change the project's grouping, timings, escalation and PagerDuty service; fields
        left out keep their value.

        Raises:
            InvalidInput: a malformed duration or label name, a value out of its range, a
                routing key that is not 1-64 letters and digits, a refused PagerDuty URL.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)  # before reading input
        changes: dict[str, Any] = {}
        if data.group_by is not None:
            for label in data.group_by:
                if label != "..." and not _LABEL.match(label):
                    raise InvalidInput(
                        f"group_by: {label!r} is not a label name ([A-Za-z_][A-Za-z0-9_]*)",
                        field="group_by",
                    )
            changes["group_by"] = tuple(dict.fromkeys(data.group_by))
        for name in ("group_wait", "group_interval", "repeat_interval", "escalate_after"):
            text = getattr(data, name)
            if text is None:
                continue
            seconds = parse_span(text) // 1000
            low, high = LIMITS[f"{name}_s"]
            if not low <= seconds <= high:
                raise InvalidInput(
                    f"{name} must be between {low} s and {high} s, not {text!r}", field=name
                )
            changes[f"{name}_s"] = seconds
        if data.pagerduty_routing_key is not None:
            key = data.pagerduty_routing_key.strip()
            if key and not _ROUTING_KEY.match(key):
                raise InvalidInput(
                    "pagerduty_routing_key must be 1-64 letters and digits (the integration key)",
                    field="pagerduty_routing_key",
                )
            changes["pagerduty_routing_key"] = key or None
        if data.pagerduty_url is not None:
            url = data.pagerduty_url.strip() or PAGERDUTY_EVENTS_URL
            self.outbound.check(url, what="PagerDuty events URL", resolve=False)
            changes["pagerduty_url"] = url
        now = now_ms()
        with self.db.write() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            current = self._settings(conn, pk)
            merged = {**current.__dict__, **changes}
            self.store.set_settings(
                conn,
                pk,
                {
                    "group_by": json.dumps(list(merged["group_by"])),
                    "group_wait_s": merged["group_wait_s"],
                    "group_interval_s": merged["group_interval_s"],
                    "repeat_interval_s": merged["repeat_interval_s"],
                    "escalate_after_s": merged["escalate_after_s"],
                    "pagerduty_url": merged["pagerduty_url"],
                    "pagerduty_routing_key": merged["pagerduty_routing_key"],
                    "updated_at": now,
                    "updated_by": principal.name,
                },
            )
            shown = {k: v for k, v in changes.items() if k != "pagerduty_routing_key"}
            if "pagerduty_routing_key" in changes:  # a secret: say only that it changed
                shown["pagerduty_routing_key"] = "set" if changes["pagerduty_routing_key"] else ""
            if "pagerduty_url" in changes:
                shown["pagerduty_url"] = urlsplit(changes["pagerduty_url"]).hostname or ""
            details: dict[str, Any] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in shown.items()
            }
            self.audit.record(
                conn, principal, "alerts.settings", f"{project}/alert-settings", **details,
                project=project,
            )  # fmt: skip
            return _settings_model(project, self._settings(conn, pk))

    # -- deliveries ----------------------------------------------------------------------------

    def list_deliveries(
        self,
        principal: Principal,
        project: str,
        *,
        state: str | None = None,
        alert: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The project's deliveries, newest first: where each went, its state and attempts."""
        if state is not None:
            state = _parse_enum(DeliveryState, state, "state").value
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            alert_pk = None
            if alert is not None:
                alert_pk = int(self._find(conn, pk, project, alert).pk)
            rows = self.delivery_store.list(
                conn, pk, state=state, alert_pk=alert_pk, limit=max(1, min(limit, 1000))
            )
            ids = self.store.alert_ids(conn, {r.alert_pk for r in rows if r.alert_pk})
        return [
            Delivery(
                id=r.id,
                project=project,
                alert=ids.get(r.alert_pk),
                fingerprint=r.fingerprint,
                channel=Channel(r.channel),
                kind=DeliveryKind(r.kind),
                target=r.target,
                state=DeliveryState(r.state),
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at if r.state == "pending" else None,
                last_error=r.last_error,
                created_at=r.created_at,
                sent_at=r.sent_at,
            )
            for r in rows
        ]

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's alerts, silences, settings and deliveries go with it."""
        self.store.purge_project(conn, project_pk)

    # -- a project's step ------------------------------------------------------------------

    def _step_project(
        self,
        conn: Connection,
        principal: Principal,
        pk: int,
        project: str,
        results: Sequence[ResultInput],
        now: int,
        summary: TickSummary,
    ) -> None:
        settings = self._settings(conn, pk)
        raw = self.store.engine_state(conn, pk)
        state = EngineState.from_json(json.loads(raw)) if raw else EngineState()
        rules: dict[str, AlertRule] = {}
        observations: list[Observation] = []
        for r in results:
            if r.breached is None:
                continue  # no data in the window: the alert keeps its state
            rules[r.monitor] = AlertRule(
                r.monitor, for_ms=r.for_s * 1000, keep_firing_for_ms=r.keep_firing_for_s * 1000
            )
            labels = {**r.labels, "severity": r.severity.value}
            if r.endpoint:
                labels["endpoint"] = r.endpoint
            annotations = dict(r.annotations)
            if r.runbook:
                annotations["runbook_url"] = r.runbook
            if r.version:
                annotations["version"] = r.version
            observations.append(
                Observation(r.monitor, labels, bool(r.breached), r.window_end, r.value, annotations)
            )
        silences = self._engine_silences(conn, pk, now)
        config = EngineConfig(rules, _route(settings))
        new_state, notes = step(state, observations, silences, [PAGE_INHIBITS], config, now)
        rows = self._sync_alerts(conn, principal, pk, project, new_state, notes, now, summary)
        statuses = {
            s.alert.fingerprint: s
            for s in alert_statuses(new_state, silences, [PAGE_INHIBITS], now)
        }
        for note in notes:
            self._notify(conn, pk, project, note, rows, settings, now, summary)
        self._escalate(conn, principal, pk, project, settings, statuses, now, summary)
        self._pages(conn, pk, project, rows, statuses, summary)
        summary.firing += sum(
            1 for a in new_state.alerts.values() if a.state is EngineAlertState.FIRING
        )
        self.store.set_engine_state(conn, pk, json.dumps(new_state.to_json()), now)

    def _sync_alerts(
        self,
        conn: Connection,
        principal: Principal,
        pk: int,
        project: str,
        state: EngineState,
        notes: Sequence[Notification],
        now: int,
        summary: TickSummary,
    ) -> dict[str, _Row]:
        """Make the alerts table say what the engine's state says. Returns the rows by
        fingerprint (those open before or after the step), each marking whether it began
        firing in this step."""
        open_rows = {r.fingerprint: r for r in self.store.open_alerts(conn, pk)}
        resolved_at = {a.fingerprint: a.resolved_at for n in notes for a in n.resolved}
        out: dict[str, _Row] = {}
        for alert in state.alerts.values():
            row = open_rows.pop(alert.fingerprint, None)
            if alert.state is EngineAlertState.RESOLVED:
                if row is not None:
                    self._resolve(conn, principal, project, row, alert.resolved_at or now, summary)
                    out[alert.fingerprint] = _Row(self._reload(conn, row.pk), False)
                continue
            values = {
                "state": alert.state.value,
                "labels": json.dumps(alert.labels, sort_keys=True),
                "annotations": json.dumps(alert.annotations, sort_keys=True),
                "value": alert.value,
                "fired_at": alert.fired_at,
                "updated_at": now,
            }
            if row is not None and row.starts_at != alert.active_at:
                self._resolve(conn, principal, project, row, alert.active_at, summary)
                row = None
            began = alert.state is EngineAlertState.FIRING and (
                row is None or row.state != AlertState.FIRING.value
            )
            if row is None:
                alert_pk = self.store.add_alert(
                    conn,
                    {
                        **values,
                        "id": _new_id("al"),
                        "project_pk": pk,
                        "fingerprint": alert.fingerprint,
                        "name": alert.rule,
                        "endpoint": alert.labels.get("endpoint"),
                        "severity": alert.labels.get("severity", AlertSeverity.TICKET.value),
                        "starts_at": alert.active_at,
                        "recipients": "[]",
                    },
                )
            else:
                alert_pk = int(row.pk)
                self.store.update_alert(conn, alert_pk, values)
            fresh = self._reload(conn, alert_pk)
            if began:
                summary.new_firing += 1
                self.audit.record(
                    conn, principal, "alert.fire", f"{project}/alerts/{fresh.id}",
                    project=project, fingerprint=alert.fingerprint, name=alert.rule,
                    severity=fresh.severity, value=alert.value,
                )  # fmt: skip
            out[alert.fingerprint] = _Row(fresh, began)
        for note in notes:  # recoveries notified now of alerts resolved at an earlier tick
            for gone in note.resolved:
                if gone.fingerprint in out or gone.fingerprint in open_rows:
                    continue
                done = self.store.find_firing(conn, pk, gone.fingerprint, gone.active_at)
                if done is not None:
                    out[gone.fingerprint] = _Row(done, False)
        for fingerprint, row in open_rows.items():  # gone from the engine's state
            if row.state == AlertState.PENDING.value:
                self.store.delete_alert(conn, row.pk)  # never fired: a pending alert is dropped
                continue
            self._resolve(conn, principal, project, row, resolved_at.get(fingerprint) or now,
                          summary)  # fmt: skip
            out[fingerprint] = _Row(self._reload(conn, row.pk), False)
        return out

    def _resolve(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        row: Any,
        at: int,
        summary: TickSummary,
    ) -> None:
        self.store.update_alert(
            conn, row.pk, {"state": AlertState.RESOLVED.value, "ends_at": at, "updated_at": at}
        )
        summary.resolved += 1
        self.audit.record(
            conn, principal, "alert.resolve", f"{project}/alerts/{row.id}", project=project,
            fingerprint=row.fingerprint,
        )  # fmt: skip

    def _notify(
        self,
        conn: Connection,
        pk: int,
        project: str,
        note: Notification,
        rows: dict[str, _Row],
        settings: _Settings,
        now: int,
        summary: TickSummary,
    ) -> None:
        firing = [rows[a.fingerprint].row for a in note.firing if a.fingerprint in rows]
        resolved = [rows[a.fingerprint].row for a in note.resolved if a.fingerprint in rows]
        if not firing and not resolved:
            return
        members = self._route_members(conn, pk, note.receiver)
        facts_firing = [self._facts(project, r) for r in firing]
        facts_resolved = [self._facts(project, r) for r in resolved]
        first_row = (firing or resolved)[0]
        first = (facts_firing or facts_resolved)[0]
        link = page_link("", project, first.endpoint)
        message = app_message(len(firing) + len(resolved), first, resolved=not firing)
        if members:
            self.notifier.notify(conn, Outbox(), project, pk, members, "alert", message, link)
            self._queue(conn, pk, first_row.pk, first.fingerprint, Channel.APP,
                        DeliveryKind.TRIGGER if firing else DeliveryKind.RESOLVE,
                        ", ".join(members)[:500], {"message": message, "link": link}, now,
                        sent=True)  # fmt: skip
            for r in firing:
                known = set(json.loads(r.recipients))
                if not set(members) <= known:
                    self.store.update_alert(
                        conn, r.pk, {"recipients": json.dumps(sorted(known | set(members)))}
                    )
        url = self.notifier.webhook_url(conn, pk)
        if url:
            text = group_text(project, note.group_labels, facts_firing, facts_resolved, members,
                              self.base, repeat=note.is_repeat)  # fmt: skip
            self._queue(conn, pk, first_row.pk, first.fingerprint, Channel.WEBHOOK,
                        DeliveryKind.TRIGGER if firing else DeliveryKind.RESOLVE,
                        urlsplit(url).hostname or "", {"text": text}, now)  # fmt: skip
            summary.queued += 1
        if settings.pagerduty_routing_key:
            for r, facts in zip(firing, facts_firing, strict=True):
                if r.severity == AlertSeverity.PAGE.value and not self._paged(conn, pk, r.pk):
                    self._queue(conn, pk, r.pk, r.fingerprint, Channel.PAGERDUTY,
                                DeliveryKind.TRIGGER, "pagerduty",
                                pagerduty_trigger(facts, self.base), now)  # fmt: skip
            for r, facts in zip(resolved, facts_resolved, strict=True):
                if self._paged(conn, pk, r.pk):
                    self._queue(conn, pk, r.pk, r.fingerprint, Channel.PAGERDUTY,
                                DeliveryKind.RESOLVE, "pagerduty",
                                pagerduty_follow_up(facts, "resolve"), now)  # fmt: skip

    def _escalate(
        self,
        conn: Connection,
        principal: Principal,
        pk: int,
        project: str,
        settings: _Settings,
        statuses: dict[str, Any],
        now: int,
        summary: TickSummary,
    ) -> None:
        """A firing page or ticket nobody acknowledged within `escalate_after` goes to the
        Accountable (once)."""
        due = now - settings.escalate_after_s * 1000
        for row in self.store.open_alerts(conn, pk):
            if (
                row.state != AlertState.FIRING.value
                or row.acked_by is not None
                or row.escalated_at is not None
                or row.fired_at is None
                or row.fired_at > due
                or row.severity == AlertSeverity.INFO.value
            ):
                continue
            status = statuses.get(row.fingerprint)
            if status is not None and status.is_suppressed:
                continue
            activity = INCIDENT_RESPONSE if row.severity == AlertSeverity.PAGE.value else MONITORING
            accountable = self._accountable(conn, pk, activity)
            facts = self._facts(project, row)
            minutes = max(1, (now - int(row.fired_at)) // 60_000)
            link = page_link("", project, row.endpoint)
            message = (
                f"alert {row.name} has fired for {minutes} min unacknowledged: escalated to you"
            )
            self.store.update_alert(conn, row.pk, {"escalated_at": now})
            if accountable:
                self.notifier.notify(
                    conn, Outbox(), project, pk, accountable, "alert-escalation", message, link
                )
                self._queue(conn, pk, row.pk, row.fingerprint, Channel.APP,
                            DeliveryKind.ESCALATE, ", ".join(accountable)[:500],
                            {"message": message, "link": link}, now, sent=True)  # fmt: skip
            url = self.notifier.webhook_url(conn, pk)
            if url:
                text = escalation_text(facts, minutes, accountable, self.base)
                self._queue(conn, pk, row.pk, row.fingerprint, Channel.WEBHOOK,
                            DeliveryKind.ESCALATE, urlsplit(url).hostname or "",
                            {"text": text}, now)  # fmt: skip
            summary.escalated += 1
            self.audit.record(
                conn, principal, "alert.escalate", f"{project}/alerts/{row.id}",
                project=project, to=accountable,
            )  # fmt: skip

    def _pages(
        self,
        conn: Connection,
        pk: int,
        project: str,
        rows: dict[str, _Row],
        statuses: dict[str, Any],
        summary: TickSummary,
    ) -> None:
        if self.page_handler is None:
            return
        for fingerprint, entry in rows.items():
            row = entry.row
            if not entry.began or row.severity != AlertSeverity.PAGE.value:
                continue
            status = statuses.get(fingerprint)
            if status is not None and status.is_suppressed:
                continue
            alert = self._alerts(conn, pk, project, [row], int(row.updated_at))[0]
            try:
                with conn.begin_nested():
                    incident = self.page_handler.on_page(conn, pk, row.endpoint, alert)
            except Exception:  # the incidents domain failed: the alert stands without one
                log.exception("opening an incident for alert %s of %s failed", row.id, project)
                continue
            summary.pages += 1
            if incident:
                self.store.update_alert(conn, row.pk, {"incident": str(incident)[:32]})

    # -- helpers -------------------------------------------------------------------------------

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

    def _settings(self, conn: Connection, pk: int) -> _Settings:
        row = self.store.settings(conn, pk)
        if row is None:
            return _Settings(
                DEFAULT_GROUP_BY,
                DEFAULTS["group_wait_s"],
                DEFAULTS["group_interval_s"],
                DEFAULTS["repeat_interval_s"],
                DEFAULTS["escalate_after_s"],
                PAGERDUTY_EVENTS_URL,
                None,
            )
        return _Settings(
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
                    "id": _new_id("dl"),
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

    def _destination(self, conn: Connection, row: Any) -> tuple[str | None, str | None]:
        if row.channel == Channel.WEBHOOK.value:
            return self.notifier.webhook_url(conn, row.project_pk), None
        settings = self._settings(conn, row.project_pk)
        return settings.pagerduty_url, settings.pagerduty_routing_key

    def _send(self, row: _Claim, url: str | None, key: str | None) -> tuple[str | None, bool]:
        """(error or None, whether the failure is final)."""
        body = json.loads(row.body)
        if row.channel == Channel.PAGERDUTY.value:
            if not key:
                return "the project has no PagerDuty routing key any more", True
            body = {"routing_key": key, **body}
        if not url:
            return "the project has no webhook any more", True
        what = "PagerDuty events URL" if row.channel == Channel.PAGERDUTY.value else "webhook"
        try:
            response = self.outbound.post(
                url, what=what, json=body, timeout=self.delivery_timeout_s
            )
        except DestinationRefused as exc:
            return f"refused: {exc}", True
        except httpx.TimeoutException as exc:
            return f"timed out after {self.delivery_timeout_s:g} s ({type(exc).__name__})", False
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}", False
        status = response.status_code
        if status < 300:
            return None, False
        # 4xx other than 429 will not get better by trying again (a bad key, a bad body)
        final = 400 <= status < 500 and status != 429
        return f"answered HTTP {status}", final

    def _record_failed(
        self, conn: Connection, principal: Principal, row: _Claim, error: str
    ) -> None:
        project = self.projects.names(conn, {row.project_pk}).get(row.project_pk, "")
        self.audit.record(
            conn, principal, "alert.deliver", f"{project}/alert-deliveries/{row.id}",
            project=project, outcome=FAILED, channel=row.channel, attempts=row.attempts,
            reason=error[:300],
        )  # fmt: skip

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


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one attempt."""

    pk: int
    id: str
    project_pk: int
    channel: str
    body: str
    attempts: int


@dataclass(frozen=True)
class _Row:
    row: Any
    began: bool  # began firing in this step


def monitor_feed(monitoring: MonitoringService, projects: ProjectService) -> ResultFeed:
    """The monitoring domain's results as a `ResultFeed`: `results_since` in order of `seq`
    (the cursor), each with its monitor's rule (for, keep_firing_for, labels, annotations,
    runbook) as `monitors_in` has it now."""

    def feed(conn: Connection, cursor: str | None) -> tuple[list[ResultInput], str | None]:
        results = monitoring.results_since(conn, int(cursor or 0))
        if not results:
            return [], cursor
        specs: dict[str, dict[str, Monitor]] = {}
        for project in {r.project for r in results}:
            pk = projects.find_pk_in(conn, project)
            found = monitoring.monitors_in(conn, pk, project) if pk is not None else []
            specs[project] = {m.name: m for m in found}
        out = [_result_input(r, specs[r.project].get(r.monitor)) for r in results]
        return out, str(results[-1].seq)

    return feed


def _result_input(result: MonitorResult, monitor: Monitor | None) -> ResultInput:
    annotations = {"condition": result.condition, "kind": str(result.kind)}
    if monitor is not None:
        annotations.update(monitor.annotations)
    return ResultInput(
        project=result.project,
        monitor=result.monitor,
        endpoint=result.endpoint,
        version=result.version,
        severity=AlertSeverity(result.severity.value),
        breached=result.breached,
        value=result.value,
        window_end=result.window_end,
        for_s=duration_ms(monitor.for_) // 1000 if monitor is not None and monitor.for_ else 0,
        keep_firing_for_s=duration_ms(monitor.keep_firing_for) // 1000
        if monitor is not None and monitor.keep_firing_for
        else 0,
        labels=dict(monitor.labels) if monitor is not None else {},
        annotations=annotations,
        runbook=monitor.runbook if monitor is not None else None,
    )


def _route(settings: _Settings) -> Route:
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


def _settings_model(project: str, s: _Settings) -> AlertSettings:
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


def _silence(project: str, row: Any, now: int) -> SilenceModel:
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


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _parse_enum(kind: Any, value: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise InvalidInput(f"unknown {name} {value!r}: use one of {allowed}") from None
