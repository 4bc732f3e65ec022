"""AuditLog: the only writer and reader of the audit table (through `AuditStore`).

Writes are recorded inside the transaction of the change they describe, so an event exists if
and only if the change does. Denials and failed sign-ins are recorded on their own, by the
server's error handler and the identity service, since their transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

from tandem.audit.models import Activity, AuditEvent
from tandem.audit.store import FAILED, AuditStore
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paging import Page, check_limit, decode_cursor, encode_cursor
from tandem.errors import InvalidInput
from tandem.store.db import Database

OK = "ok"
DENIED = "denied"
__all__ = ["DENIED", "FAILED", "OK", "AuditLog"]
_MAX_TARGET = 1024


class AuditLog:
    def __init__(self, db: Database, store: AuditStore, auth: Authorizer) -> None:
        self.db = db
        self.store = store
        self.auth = auth

    def record(
        self,
        conn: Connection,
        principal: Principal,
        action: str,
        target: str,
        *,
        project: str | None = None,
        outcome: str = OK,
        **details: Any,
    ) -> None:
        """Append one event within the caller's transaction."""
        self.store.append(
            conn, _event_row(now_ms(), principal, action, outcome, project, target, details)
        )

    def record_many(
        self,
        conn: Connection,
        events: Sequence[tuple[Principal, str, str, str | None, dict[str, Any]]],
    ) -> None:
        """Append several successful events (principal, action, target, project, details)
        within the caller's transaction, in one statement."""
        at = now_ms()
        self.store.append_many(
            conn,
            [
                _event_row(at, principal, action, OK, project, target, details)
                for principal, action, target, project, details in events
            ],
        )

    def record_alone(
        self,
        principal: Principal,
        action: str,
        target: str,
        *,
        project: str | None = None,
        outcome: str = DENIED,
        **details: Any,
    ) -> None:
        """Append one event in a transaction of its own (denials, failed sign-ins)."""
        with self.db.write() as conn:
            self.record(
                conn, principal, action, target, project=project, outcome=outcome, **details
            )

    def failed_sign_ins(self, name: str, source: str, since: int) -> int:
        """How many sign-ins as `name` from address `source` failed since `since` (ms): the
        rate limit's count."""
        with self.db.read() as conn:
            return self.store.failed_sign_ins(conn, name, source, since)

    def list(
        self,
        principal: Principal,
        *,
        project: str | None = None,
        since: int | None = None,
        until: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[AuditEvent]:
        """Events, newest first. A project's log needs `audit:read` in it (compliance and
        project admins); the whole workspace's needs a workspace admin."""
        if project is None:
            self.auth.require(principal, Action.ADMIN)
        else:
            self.auth.require(principal, Action.AUDIT_READ, project)
        limit = check_limit(limit)
        if outcome and outcome not in (OK, DENIED, FAILED):
            raise InvalidInput(f"outcome must be one of {OK}, {DENIED}, {FAILED}")
        before = _before(cursor)
        with self.db.read() as conn:
            # `action`: "run." matches every run action; "run.create" just that one
            rows = self.store.events(
                conn,
                project=project,
                since=since,
                until=until,
                actor=actor,
                action=action,
                outcome=outcome,
                before=before,
                limit=limit + 1,
            )
        items = [
            AuditEvent(
                id=row.pk,
                at=row.at,
                actor=row.actor,
                via=row.via,
                source=row.source,
                action=row.action,
                outcome=row.outcome,
                project=row.project,
                target=row.target,
                details=orjson.loads(row.details),
            )
            for row in rows[:limit]
        ]
        next_cursor = encode_cursor([items[-1].id]) if len(rows) > limit else None
        return Page[AuditEvent](items=items, next_cursor=next_cursor)

    def activity(
        self, principal: Principal, project: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Activity]:
        """The project's feed for its members: who changed what, when, newest first. Only
        changes that went through (no refusals, downloads, sign-ins, or the metric batches and
        artifact uploads runs make by the thousand), and none of the log's details (those stay
        for `audit:read`)."""
        self.auth.require(principal, Action.PROJECT_READ, project)
        limit = check_limit(limit)
        before = _before(cursor)
        with self.db.read() as conn:
            rows = self.store.activity(
                conn, project, ok=OK, noisy=NOISY, before=before, limit=limit + 1
            )
        items = [
            Activity(id=r.pk, at=r.at, actor=r.actor, action=r.action, target=r.target)
            for r in rows[:limit]
        ]
        next_cursor = encode_cursor([items[-1].id]) if len(rows) > limit else None
        return Page[Activity](items=items, next_cursor=next_cursor)


# Logged many times per run: they would bury what people did in a project's feed.
NOISY = ("run.log", "artifact.upload")


def _before(cursor: str | None) -> int | None:
    """The event id the page `cursor` ended at: the next page is older (events newest first)."""
    if not cursor:
        return None
    position = decode_cursor(cursor)
    if len(position) != 1 or not isinstance(position[0], int):
        raise InvalidInput("invalid cursor: pass back the next_cursor of a previous page")
    return position[0]


def _event_row(
    at: int,
    principal: Principal,
    action: str,
    outcome: str,
    project: str | None,
    target: str,
    details: dict[str, Any],
) -> tuple[Any, ...]:
    """The values of one event, in the order `AuditStore.append` takes them."""
    return (
        at, principal.name, principal.via, principal.source[:64], action, outcome, project,
        target[:_MAX_TARGET], orjson.dumps(details, default=str).decode(),
    )  # fmt: skip
