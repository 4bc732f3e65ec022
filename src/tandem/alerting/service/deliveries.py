"""The delivery queue: `deliver_due` claims what is due, sends it outside any transaction
and records the outcome (sent, retried with backoff, or failed); `list_deliveries` shows it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Connection

from tandem.alerting.models import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryState,
    DeliverySummary,
)
from tandem.alerting.service.base import (
    DUE_BATCH,
    FIRST_RETRY_MS,
    LEASE_MS,
    MAX_ATTEMPTS,
    MAX_RETRY_MS,
    AlertCore,
    parse_enum,
)
from tandem.audit.service import FAILED
from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.errors import DestinationRefused


class DeliveryOps(AlertCore):
    """`deliver_due` and the deliveries' state."""

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
            state = parse_enum(DeliveryState, state, "state").value
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


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one attempt."""

    pk: int
    id: str
    project_pk: int
    channel: str
    body: str
    attempts: int
