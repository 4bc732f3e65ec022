"""Notifications: what a member is told (a sign-off they owe, a mention, an action item given
to them), kept for the web UI until read and sent to the project's webhook as Slack-compatible
JSON (`{"text": ...}`), after the change that caused it is committed.

A webhook that fails or is slow never fails the change: delivery is best effort, logged, with
a short timeout. Only http(s) URLs are accepted, and setting one needs `project:write`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, insert, select, update

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.errors import InvalidInput
from tandem.governance.tables import notifications, project_webhooks
from tandem.projects.store import ProjectStore
from tandem.projects.tables import projects

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 3.0
MAX_WEBHOOK_URL = 2000


class Notification(BaseModel):
    id: int
    project: str
    kind: str = Field(description="sign-off, mention, action-item")
    message: str
    link: str = Field(description="the page it is about, e.g. /projects/churn/gates/ID")
    created_at: int
    read_at: int | None = None


class WebhookSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("", description="an http(s) URL, e.g. a Slack incoming webhook; '' removes it")


class Webhook(BaseModel):
    project: str
    url: str
    updated_at: int | None = None
    updated_by: str | None = None


class Outbox:
    """Notifications written in a transaction, sent to the webhook once it has committed."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []  # (url, text)

    def add(self, url: str | None, text: str) -> None:
        if url:
            self.messages.append((url, text))


class Notifier:
    def __init__(
        self, db: Any, project_store: ProjectStore, auth: Authorizer, audit: AuditLog
    ) -> None:
        self.db = db
        self.project_store = project_store
        self.auth = auth
        self.audit = audit

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
        """Tell `members` about something; the webhook gets one message for all of them."""
        names = sorted(set(members))
        if not names:
            return
        now = now_ms()
        conn.execute(
            insert(notifications),
            [
                {
                    "member": m,
                    "project_pk": project_pk,
                    "kind": kind,
                    "message": message,
                    "link": link,
                    "created_at": now,
                }
                for m in names
            ],
        )
        url = conn.execute(
            select(project_webhooks.c.url).where(project_webhooks.c.project_pk == project_pk)
        ).scalar()
        outbox.add(url, f"{', '.join('@' + m for m in names)}: {message} ({link})")

    def deliver(self, outbox: Outbox) -> None:
        """Send what the committed transaction queued; failures are logged, never raised."""
        for url, text in outbox.messages:
            try:
                response = httpx.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_S)
                if response.status_code >= 300:
                    log.warning("webhook %s answered %s", _host(url), response.status_code)
            except httpx.HTTPError as exc:
                log.warning("webhook %s failed: %s", _host(url), exc)

    # -- reading -----------------------------------------------------------------------------

    def mine(
        self, principal: Principal, *, unread: bool = False, limit: int = 100
    ) -> list[Notification]:
        """The caller's notifications, newest first."""
        self.auth.require(principal, Action.ACCOUNT)
        query = (
            select(notifications, projects.c.name.label("project"))
            .join(projects, projects.c.pk == notifications.c.project_pk)
            .where(notifications.c.member == principal.name)
        )
        if unread:
            query = query.where(notifications.c.read_at.is_(None))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(notifications.c.pk.desc()).limit(limit)).all()
        readable = self.auth.readable_projects(principal)
        return [
            Notification(
                id=r.pk,
                project=r.project,
                kind=r.kind,
                message=r.message,
                link=r.link,
                created_at=r.created_at,
                read_at=r.read_at,
            )
            for r in rows
            if readable is None or r.project in readable
        ]

    def mark_read(self, principal: Principal, ids: list[int] | None = None) -> int:
        """Mark the caller's notifications read (all of them without `ids`)."""
        self.auth.require(principal, Action.ACCOUNT)
        query = update(notifications).where(
            notifications.c.member == principal.name, notifications.c.read_at.is_(None)
        )
        if ids is not None:
            query = query.where(notifications.c.pk.in_(ids))
        with self.db.write() as conn:
            return int(conn.execute(query.values(read_at=now_ms())).rowcount)

    # -- the project's webhook -----------------------------------------------------------------

    def webhook(self, principal: Principal, project: str) -> Webhook:
        self.auth.require(principal, Action.PROJECT_WRITE, project)
        with self.db.read() as conn:
            project_pk = self.project_store.get_pk(conn, project)
            row = conn.execute(
                select(project_webhooks).where(project_webhooks.c.project_pk == project_pk)
            ).first()
        if row is None:
            return Webhook(project=project, url="")
        return Webhook(
            project=project, url=row.url, updated_at=row.updated_at, updated_by=row.updated_by
        )

    def set_webhook(self, principal: Principal, project: str, data: WebhookSet) -> Webhook:
        """Where the project's notifications go as Slack-compatible JSON ('' stops them)."""
        self.auth.require(principal, Action.PROJECT_WRITE, project)  # before checking the URL
        url = data.url.strip()
        if url:
            parts = urlsplit(url)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or len(url) > MAX_WEBHOOK_URL
            ):
                raise InvalidInput(f"webhook URL {url[:80]!r} must be an http(s) URL")
        with self.db.write() as conn:
            project_pk = self.project_store.get_pk(conn, project)
            conn.execute(
                delete(project_webhooks).where(project_webhooks.c.project_pk == project_pk)
            )
            if url:
                conn.execute(
                    insert(project_webhooks).values(
                        project_pk=project_pk,
                        url=url,
                        updated_at=now_ms(),
                        updated_by=principal.name,
                    )
                )
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


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "") if url else ""
