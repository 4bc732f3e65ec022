"""Ticks: the new monitor results through the engine, the alerts kept in step with its
state, notifications queued, escalations, pages handed to the incidents domain."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from tandem.alerting.engine import (
    AlertRule,
    EngineConfig,
    EngineState,
    Notification,
    Observation,
    alert_statuses,
    step,
)
from tandem.alerting.engine import AlertState as EngineAlertState
from tandem.alerting.messages import (
    app_message,
    escalation_text,
    group_text,
    page_link,
    pagerduty_follow_up,
    pagerduty_trigger,
)
from tandem.alerting.models import (
    AlertSeverity,
    AlertState,
    Channel,
    DeliveryKind,
    ResultInput,
    TickSummary,
)
from tandem.alerting.service.base import (
    FEED,
    INCIDENT_RESPONSE,
    MONITORING,
    PAGE_INHIBITS,
    AlertCore,
    ProjectSettings,
    ResultFeed,
    new_id,
    route_tree,
)
from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.governance.notifications.service import Outbox
from tandem.monitoring.models import Monitor, MonitorResult, duration_ms
from tandem.monitoring.service import MonitoringService
from tandem.projects.service import ProjectService

log = logging.getLogger(__name__)
HELD = f"{FEED}@project:"  # the cursor of a project whose step failed, kept until it succeeds


class TickOps(AlertCore):
    """`tick` and its steps."""

    def tick(self, principal: Principal, now: int | None = None) -> TickSummary:
        """Read the new monitor results, step every project's engine, persist the alerts, and
        queue their notifications; one transaction, with a savepoint per project: a project
        whose step fails is rolled back alone (named in `failed`), and its results are read
        again at the next tick until its step succeeds. Needs `monitor:write` in every project
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
            held = {
                int(pk): since
                for pk, since in self.store.held_cursors(conn, HELD).items()
                if pk.isdigit()
            }
            pks = set(by_project) | set(self.store.projects_with_state(conn)) | set(held)
            missing = {pk for pk in pks if pk not in names}
            names.update(self.projects.names(conn, missing))
            for pk, since in held.items():
                if pk in names and self.feed is not None:
                    # its last step failed: its results again from where that step began
                    again, _ = self.feed(conn, since or None)
                    by_project[pk] = [r for r in again if r.project == names[pk]]
            for pk in sorted(pks):
                if pk not in names:
                    if pk in held:  # a project deleted while it was failing
                        self.store.release_cursor(conn, f"{HELD}{pk}")
                    continue
                part = TickSummary()
                try:
                    # A savepoint per project: one project's failure (a bad rule, a row the
                    # database refuses) rolls back its own step only, and the others' alerts
                    # are still raised and queued in this tick.
                    with conn.begin_nested():
                        self._step_project(
                            conn, principal, pk, names[pk], by_project.get(pk, []), now, part
                        )
                except Exception:  # a boundary: any failure of one project's step
                    log.exception("the alert step of project %s failed", names[pk])
                    summary.failed.append(names[pk])
                    if pk not in held:  # its results are read again from here next time
                        self.store.hold_cursor(conn, f"{HELD}{pk}", cursor or "", now)
                    continue
                if pk in held:
                    self.store.release_cursor(conn, f"{HELD}{pk}")
                _add(summary, part)
            if after is not None and after != cursor:
                self.store.set_cursor(conn, FEED, after, now)
        return summary

    def monitor_removed(
        self, conn: Connection, principal: Principal, project_pk: int, project: str,
        monitor: str, now: int | None = None,
    ) -> TickSummary:  # fmt: skip
        """A monitor was deleted (the monitoring domain's hook, inside its transaction): its
        firing alerts resolve now and its pending ones go, as the engine retires a removed
        rule; the recovery is notified like any other (in the app, to the webhook, a PagerDuty
        resolve) when its group next flushes. No permission check: the caller checked
        `monitor:write`."""
        now = now_ms() if now is None else now
        summary = TickSummary()
        self.store.lock_cursor(conn, FEED, now)  # a tick under way finishes first
        if self.store.engine_state(conn, project_pk):
            self._step_project(conn, principal, project_pk, project, [], now, summary,
                               retired=monitor)  # fmt: skip
        return summary

    def _step_project(
        self,
        conn: Connection,
        principal: Principal,
        pk: int,
        project: str,
        results: Sequence[ResultInput],
        now: int,
        summary: TickSummary,
        retired: str | None = None,
    ) -> None:
        """Step the project's engine over `results`; with `retired`, over none, that rule's
        alerts retired (every other rule's alerts keep their state)."""
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
        config = EngineConfig(rules, route_tree(settings))
        if retired is not None:
            kept = {a.rule for a in state.alerts.values() if a.rule != retired}
            config = EngineConfig.of(
                [AlertRule(name) for name in kept], route_tree(settings), rules_complete=True
            )
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
                        "id": new_id("al"),
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
        settings: ProjectSettings,
        now: int,
        summary: TickSummary,
    ) -> None:
        firing = [rows[a.fingerprint].row for a in note.firing if a.fingerprint in rows]
        resolved = [rows[a.fingerprint].row for a in note.resolved if a.fingerprint in rows]
        if not firing and not resolved:
            return
        members = self._route_members(conn, pk, note.receiver)
        for r in firing:  # the responders hear of it now: escalation counts from here
            if r.notified_at is None:
                self.store.update_alert(conn, r.pk, {"notified_at": now})
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
        settings: ProjectSettings,
        statuses: dict[str, Any],
        now: int,
        summary: TickSummary,
    ) -> None:
        """A firing page or ticket nobody acknowledged within `escalate_after` of its first
        notification to the responders goes to the Accountable (once). The time counts from
        that notification, not from the breach: an alert held back by `group_wait` or a silence
        has not asked anyone to acknowledge it yet."""
        due = now - settings.escalate_after_s * 1000
        for row in self.store.open_alerts(conn, pk):
            if (
                row.state != AlertState.FIRING.value
                or row.acked_by is not None
                or row.escalated_at is not None
                or row.notified_at is None
                or row.notified_at > due
                or row.severity == AlertSeverity.INFO.value
            ):
                continue
            status = statuses.get(row.fingerprint)
            if status is not None and status.is_suppressed:
                continue
            activity = INCIDENT_RESPONSE if row.severity == AlertSeverity.PAGE.value else MONITORING
            accountable = self._accountable(conn, pk, activity)
            facts = self._facts(project, row)
            minutes = max(1, (now - int(row.fired_at or row.notified_at)) // 60_000)
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
            if isinstance(incident, int) and not isinstance(incident, bool):
                incident = f"{project}/incidents/{incident}"
            if incident:
                self.store.update_alert(conn, row.pk, {"incident": str(incident)[:100]})


def _add(summary: TickSummary, part: TickSummary) -> None:
    for name in ("firing", "new_firing", "resolved", "queued", "escalated", "pages"):
        setattr(summary, name, getattr(summary, name) + getattr(part, name))


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
