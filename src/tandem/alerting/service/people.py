"""What people do with alerts: list and acknowledge them, silence them, tune the project's
settings; and the incidents domain's read of an endpoint's alerts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from tandem.alerting.engine import parse_duration as parse_span
from tandem.alerting.matchers import Silence
from tandem.alerting.messages import (
    pagerduty_follow_up,
)
from tandem.alerting.models import (
    PAGERDUTY_EVENTS_URL,
    Alert,
    AlertSettings,
    AlertSettingsUpdate,
    AlertState,
    Channel,
    DeliveryKind,
    SilenceCreate,
)
from tandem.alerting.models import Silence as SilenceModel
from tandem.alerting.service.base import (
    LABEL,
    LIMITS,
    MAX_SILENCE_MS,
    ROUTING_KEY,
    AlertCore,
    new_id,
    parse_enum,
    settings_model,
    silence_model,
)
from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms, parse_instant
from tandem.errors import Conflict, InvalidInput, NotFound


class ResponseOps(AlertCore):
    """Alerts, silences and settings, for the faces."""

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
            states = [parse_enum(AlertState, state, "state").value]
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
        silence_id = new_id("si")
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
        return silence_model(project, row, now)

    def list_silences(
        self, principal: Principal, project: str, *, all: bool = False, now: int | None = None
    ) -> list[SilenceModel]:
        """The project's silences that have not ended (every one with `all`), newest first."""
        now = now_ms() if now is None else now
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            rows = self.silence_store.list(conn, pk, current_at=None if all else now)
        return [silence_model(project, r, now) for r in rows]

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
        return silence_model(project, row, now)

    def get_settings(self, principal: Principal, project: str) -> AlertSettings:
        with self.db.read() as conn:
            pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return settings_model(project, self._settings(conn, pk))

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
                if label != "..." and not LABEL.match(label):
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
            if key and not ROUTING_KEY.match(key):
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
            return settings_model(project, self._settings(conn, pk))

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's alerts, silences, settings and deliveries go with it."""
        self.store.purge_project(conn, project_pk)
