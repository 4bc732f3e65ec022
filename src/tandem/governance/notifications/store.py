"""NotificationStore: the SQL over notifications and project webhooks. No rules, no
permissions: the Notifier checks those first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tandem.governance.notifications.tables import notifications, project_webhooks


class NotificationStore:
    def add(
        self,
        conn: Connection,
        project_pk: int,
        members: Sequence[str],
        kind: str,
        message: str,
        link: str,
        now: int,
    ) -> None:
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
                for m in members
            ],
        )

    def of_member(self, conn: Connection, member: str, *, unread: bool, limit: int) -> list[Any]:
        """A member's notifications, newest first (rows, with their project's pk)."""
        query = select(notifications).where(notifications.c.member == member)
        if unread:
            query = query.where(notifications.c.read_at.is_(None))
        return list(conn.execute(query.order_by(notifications.c.pk.desc()).limit(limit)).all())

    def mark_read(self, conn: Connection, member: str, ids: list[int] | None, now: int) -> int:
        query = update(notifications).where(
            notifications.c.member == member, notifications.c.read_at.is_(None)
        )
        if ids is not None:
            query = query.where(notifications.c.pk.in_(ids))
        return int(conn.execute(query.values(read_at=now)).rowcount)

    # -- the project's webhook ---------------------------------------------------------------

    def webhook(self, conn: Connection, project_pk: int) -> Any:
        return conn.execute(
            select(project_webhooks).where(project_webhooks.c.project_pk == project_pk)
        ).first()

    def webhook_url(self, conn: Connection, project_pk: int) -> str | None:
        return conn.execute(
            select(project_webhooks.c.url).where(project_webhooks.c.project_pk == project_pk)
        ).scalar()

    def set_webhook(self, conn: Connection, project_pk: int, url: str, by: str, now: int) -> None:
        """Replace the project's webhook ('' removes it)."""
        conn.execute(delete(project_webhooks).where(project_webhooks.c.project_pk == project_pk))
        if url:
            conn.execute(
                insert(project_webhooks).values(
                    project_pk=project_pk, url=url, updated_at=now, updated_by=by
                )
            )

    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """The notifications and webhook of a purged project go with it."""
        for table in (notifications, project_webhooks):
            conn.execute(delete(table).where(table.c.project_pk == project_pk))
