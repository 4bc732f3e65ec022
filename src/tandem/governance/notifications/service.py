"""Notifier: what a member is told (a sign-off they owe, a mention, an action item given to
them), kept for the web UI until read and sent to the project's webhook as Slack-compatible
JSON (`{"text": ...}`), after the change that caused it is committed.

A webhook that fails or is slow never fails the change: delivery is best effort, with a short
timeout; a failed delivery is logged and recorded in the audit log (`webhook.deliver`, outcome
failed, with the reason). Setting a webhook needs `project:write`, and its URL must meet the
outbound policy (tandem.core.outbound: http(s), a globally routable address unless a workspace
admin allows the host); delivery checks it again, as DNS may have changed since."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection

from tandem.audit.service import FAILED, AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.outbound import OutboundPolicy
from tandem.errors import DestinationRefused, InvalidInput
from tandem.governance.notifications.models import Notification, Webhook, WebhookSet
from tandem.governance.notifications.store import NotificationStore
from tandem.projects.service import ProjectService

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 3.0
MAX_WEBHOOK_URL = 2000

ActivityMembers = Callable[[Connection, int, str], list[str]]
"""(conn, project_pk, activity) -> the project's members the RACI names for the activity
(`PlanService.activity_members`, wired by the container: notifications do not import the plan)."""


class Outbox:
    """Notifications written in a transaction, sent to the webhook once it has committed.
    `actor` (who made the change) is named in the audit event of a failed delivery."""

    def __init__(self, actor: Principal | None = None) -> None:
        self.actor = actor
        self.messages: list[tuple[str, str, str]] = []  # (project, url, text)

    def add(self, project: str, url: str | None, text: str) -> None:
        if url:
            self.messages.append((project, url, text))


class Notifier:
    def __init__(
        self,
        db: Any,
        store: NotificationStore,
        projects: ProjectService,
        auth: Authorizer,
        audit: AuditLog,
        outbound: OutboundPolicy | None = None,
        *,
        activity_members: ActivityMembers | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.auth = auth
        self.audit = audit
        self.outbound = outbound or OutboundPolicy()
        self.activity_members = activity_members

    # -- writing (inside the caller's transaction) -----------------------------------------

    def notify(
        self,
        conn: Connection,
        outbox: Outbox,
        project: str,
        project_pk: int,
        members: Iterable[str],
        kind: str,
        message: str,
        link: str,
    ) -> None:
        """Tell `members` about something; the webhook gets one message for all of them. Runs
        inside the caller's transaction, which checked its own permission."""
        names = sorted(set(members))
        if not names:
            return
        self.store.add(conn, project_pk, names, kind, message, link, now_ms())
        url = self.store.webhook_url(conn, project_pk)
        outbox.add(project, url, f"{', '.join('@' + m for m in names)}: {message} ({link})")

    def notify_activity(
        self,
        conn: Connection,
        outbox: Outbox,
        project: str,
        project_pk: int,
        activity: str,
        kind: str,
        message: str,
        link: str,
        *,
        skip: Iterable[str] = (),
    ) -> list[str]:
        """Tell every member the RACI names for `activity` (R, A, C or I alike) who still
        belongs to the project, except those in `skip` (e.g. whoever made the change), e.g.
        `notify_activity(conn, outbox, "churn", pk, "deployment", "deployment", "churn-lr@3 is
        at 25% on prod", "/projects/churn/endpoints/prod")`. Runs inside the caller's
        transaction, which checked its own permission; `deliver(outbox)` after it commits.

        Returns:
            The members notified, sorted (none when the RACI has no such activity).
        """
        if self.activity_members is None:
            raise RuntimeError("the Notifier was built without the RACI (activity_members)")
        skipped = set(skip)
        members = [m for m in self.activity_members(conn, project_pk, activity) if m not in skipped]
        self.notify(conn, outbox, project, project_pk, members, kind, message, link)
        return members

    def deliver(self, outbox: Outbox) -> None:
        """Send what the committed transaction queued; failures are logged and audited, never
        raised. A redirect is a failure: it is not followed."""
        for project, url, text in outbox.messages:
            try:
                response = self.outbound.post(
                    url, what="webhook", json={"text": text}, timeout=WEBHOOK_TIMEOUT_S
                )
            except DestinationRefused as exc:
                self._failed(outbox, project, url, f"refused: {exc}")
            except httpx.HTTPError as exc:
                self._failed(outbox, project, url, f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code >= 300:
                    self._failed(outbox, project, url, f"answered HTTP {response.status_code}")

    def _failed(self, outbox: Outbox, project: str, url: str, reason: str) -> None:
        log.warning("webhook %s of %s failed: %s", _host(url), project, reason)
        if outbox.actor is None:
            return
        try:
            self.audit.record_alone(
                outbox.actor,
                "webhook.deliver",
                f"{project}/webhook",
                project=project,
                outcome=FAILED,
                host=_host(url),
                reason=reason[:300],
            )
        except Exception:  # the change is committed; a failed record must not fail it
            log.exception("could not record the failed webhook delivery")

    # -- reading -----------------------------------------------------------------------------

    def mine(
        self, principal: Principal, *, unread: bool = False, limit: int = 100
    ) -> list[Notification]:
        """The caller's notifications, newest first."""
        self.auth.require(principal, Action.ACCOUNT)
        with self.db.read() as conn:
            rows = self.store.of_member(conn, principal.name, unread=unread, limit=limit)
            names = self.projects.names(conn, {r.project_pk for r in rows})
        readable = self.auth.readable_projects(principal)
        return [
            Notification(
                id=r.pk,
                project=names[r.project_pk],
                kind=r.kind,
                message=r.message,
                link=r.link,
                created_at=r.created_at,
                read_at=r.read_at,
            )
            for r in rows
            if r.project_pk in names and (readable is None or names[r.project_pk] in readable)
        ]

    def mark_read(self, principal: Principal, ids: list[int] | None = None) -> int:
        """Mark the caller's notifications read (all of them without `ids`)."""
        self.auth.require(principal, Action.ACCOUNT)
        with self.db.write() as conn:
            return self.store.mark_read(conn, principal.name, ids, now_ms())

    # -- the project's webhook -----------------------------------------------------------------

    def webhook(self, principal: Principal, project: str) -> Webhook:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_WRITE)
            row = self.store.webhook(conn, project_pk)
        if row is None:
            return Webhook(project=project, url="")
        return Webhook(
            project=project, url=row.url, updated_at=row.updated_at, updated_by=row.updated_by
        )

    def set_webhook(self, principal: Principal, project: str, data: WebhookSet) -> Webhook:
        """Where the project's notifications go as Slack-compatible JSON ('' stops them)."""
        self.auth.require(principal, Action.PROJECT_WRITE, project)  # before checking the URL
        url = data.url.strip()
        if len(url) > MAX_WEBHOOK_URL:
            raise InvalidInput(f"webhook URL is longer than {MAX_WEBHOOK_URL} characters")
        if url:
            # A name that does not resolve now is kept: delivery checks it again anyway.
            self.outbound.check(url, what="webhook URL", resolve=False)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_WRITE)
            self.store.set_webhook(conn, project_pk, url, principal.name, now_ms())
            # the URL is a secret (it lets anyone post to the channel): only its host is logged
            self.audit.record(
                conn,
                principal,
                "webhook.set",
                f"{project}/webhook",
                project=project,
                host=_host(url),
            )
        return self.webhook(principal, project)

    def webhook_url(self, conn: Connection, project_pk: int) -> str | None:
        """The project's webhook URL (a secret: log its host only), for a domain that queues
        its own deliveries (alerting), inside the caller's transaction. No permission check."""
        return self.store.webhook_url(conn, project_pk)

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's rows go with it, inside gc's transaction (gc checked)."""
        self.store.purge_project(conn, project_pk)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "") if url else ""
