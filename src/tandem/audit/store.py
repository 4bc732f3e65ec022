"""AuditStore: all SQL over the audit table. No rules, no permissions: `AuditLog` decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from tandem.audit.tables import audit_events
from tandem.store.db import Database, driver_cursor

FAILED = "failed"


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        ph = db.placeholder
        # Plain SQL: every logged batch appends an event, and building the statement with
        # SQLAlchemy each time cost a fifth of a small logging request.
        self._insert_sql = (
            "INSERT INTO audit_events (at, actor, via, source, action, outcome, project, "
            f"target, details) VALUES ({', '.join([ph] * 9)})"
        )

    def append(self, conn: Connection, row: tuple[Any, ...]) -> None:
        """Append one event (the values in the order of the insert: at, actor, via, source,
        action, outcome, project, target, details)."""
        driver_cursor(conn).execute(self._insert_sql, row)

    def append_many(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        driver_cursor(conn).executemany(self._insert_sql, rows)

    def failed_sign_ins(self, conn: Connection, name: str, source: str, since: int) -> int:
        """Failed sign-ins as `name` from `source` since `since` (ms): an index range scan (the
        partial index `ix_audit_events_logins`, whose condition the query repeats literally so
        both databases use it)."""
        ph = self.db.placeholder
        count = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_events WHERE action = 'auth.login' "
            f"AND target = {ph} AND at >= {ph} AND outcome = '{FAILED}' AND source = {ph}",
            (name, since, source[:64]),
        ).scalar_one()
        return int(count)

    def events(
        self,
        conn: Connection,
        *,
        project: str | None,
        since: int | None,
        until: int | None,
        actor: str | None,
        action: str | None,
        outcome: str | None,
        before: int | None,
        limit: int,
    ) -> list[Row[Any]]:
        """Events newest first, up to `limit` of them, with pk below `before` if given. An
        `action` ending in "." matches every action it starts (e.g. "run.")."""
        query = select(audit_events).order_by(audit_events.c.pk.desc()).limit(limit)
        if project is not None:
            query = query.where(audit_events.c.project == project)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if until is not None:
            query = query.where(audit_events.c.at < until)
        if actor:
            query = query.where(audit_events.c.actor == actor)
        if action:
            if action.endswith("."):
                query = query.where(audit_events.c.action.startswith(action, autoescape=True))
            else:
                query = query.where(audit_events.c.action == action)
        if outcome:
            query = query.where(audit_events.c.outcome == outcome)
        if before is not None:
            query = query.where(audit_events.c.pk < before)
        return list(conn.execute(query).all())

    def activity(
        self,
        conn: Connection,
        project: str,
        *,
        ok: str,
        noisy: Sequence[str],
        before: int | None,
        limit: int,
    ) -> list[Any]:
        """A project's events with outcome `ok`, newest first, leaving out downloads, access
        events and the `noisy` actions; pk, at, actor, action and target of each."""
        query = (
            select(audit_events.c.pk, audit_events.c.at, audit_events.c.actor,
                   audit_events.c.action, audit_events.c.target)
            .where(audit_events.c.project == project, audit_events.c.outcome == ok,
                   ~audit_events.c.action.like("%download%"),
                   ~audit_events.c.action.like("access.%"),
                   audit_events.c.action.notin_(noisy))
            .order_by(audit_events.c.pk.desc())
            .limit(limit)
        )  # fmt: skip
        if before is not None:
            query = query.where(audit_events.c.pk < before)
        return list(conn.execute(query).all())
