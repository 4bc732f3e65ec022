"""The SQL of the alerting domain, one small store per aggregate: `AlertStore` (settings, the
engine's state, the results cursor, alerts), `SilenceStore` and `DeliveryStore` (the queue).
Tables in, rows out. No rules, no permissions: `AlertService` checks those first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tandem.alerting.tables import (
    alert_cursors,
    alert_deliveries,
    alert_engine_state,
    alert_settings,
    alert_silences,
    alerts,
)

ACTIVE_STATES = ("pending", "firing")


class AlertStore:
    def __init__(self, *, is_sqlite: bool = False) -> None:
        self.is_sqlite = is_sqlite

    # -- settings ---------------------------------------------------------------------------

    def settings(self, conn: Connection, project_pk: int) -> Any:
        return conn.execute(
            select(alert_settings).where(alert_settings.c.project_pk == project_pk)
        ).first()

    def set_settings(self, conn: Connection, project_pk: int, values: dict[str, Any]) -> None:
        conn.execute(delete(alert_settings).where(alert_settings.c.project_pk == project_pk))
        conn.execute(insert(alert_settings).values(project_pk=project_pk, **values))

    # -- the engine's state and the results cursor -----------------------------------------

    def engine_state(self, conn: Connection, project_pk: int) -> str | None:
        return conn.execute(
            select(alert_engine_state.c.state).where(alert_engine_state.c.project_pk == project_pk)
        ).scalar()

    def set_engine_state(self, conn: Connection, project_pk: int, state: str, now: int) -> None:
        conn.execute(
            delete(alert_engine_state).where(alert_engine_state.c.project_pk == project_pk)
        )
        conn.execute(
            insert(alert_engine_state).values(project_pk=project_pk, state=state, updated_at=now)
        )

    def projects_with_state(self, conn: Connection) -> list[int]:
        """Projects whose engine holds alerts or groups (stepped on every tick)."""
        rows = conn.execute(select(alert_engine_state.c.project_pk, alert_engine_state.c.state))
        return [int(r.project_pk) for r in rows if _holds_something(r.state)]

    def lock_cursor(self, conn: Connection, name: str, now: int) -> str | None:
        """The consumer's cursor, its row locked until the transaction ends (two ticks at
        once: the second waits, then reads what the first committed)."""
        query = select(alert_cursors.c.cursor).where(alert_cursors.c.name == name)
        if not self.is_sqlite:  # SQLite's write transactions are already serialised
            query = query.with_for_update()
        found = conn.execute(query).scalar()
        if found is None:  # the first tick ever: two may get here at once, one row wins
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(alert_cursors)
                .values(name=name, cursor="", updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            found = conn.execute(query).scalar()
        return str(found) if found else None

    def set_cursor(self, conn: Connection, name: str, cursor: str, now: int) -> None:
        conn.execute(
            update(alert_cursors)
            .where(alert_cursors.c.name == name)
            .values(cursor=cursor, updated_at=now)
        )

    def held_cursors(self, conn: Connection, prefix: str) -> dict[str, str]:
        """The cursors named `prefix` + something, by that something."""
        rows = conn.execute(
            select(alert_cursors.c.name, alert_cursors.c.cursor).where(
                alert_cursors.c.name.startswith(prefix, autoescape=True)
            )
        )
        return {str(r.name)[len(prefix) :]: str(r.cursor) for r in rows}

    def hold_cursor(self, conn: Connection, name: str, cursor: str, now: int) -> None:
        """Keep `cursor` under `name` (a cursor already held there stays as it was)."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(alert_cursors)
            .values(name=name, cursor=cursor, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )

    def release_cursor(self, conn: Connection, name: str) -> None:
        conn.execute(delete(alert_cursors).where(alert_cursors.c.name == name))

    # -- alerts -------------------------------------------------------------------------------

    def open_alerts(self, conn: Connection, project_pk: int) -> list[Any]:
        """The project's pending and firing alerts."""
        return list(
            conn.execute(
                select(alerts).where(
                    alerts.c.project_pk == project_pk, alerts.c.state.in_(ACTIVE_STATES)
                )
            ).all()
        )

    def add_alert(self, conn: Connection, values: dict[str, Any]) -> int:
        result = conn.execute(insert(alerts).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update_alert(self, conn: Connection, pk: int, values: dict[str, Any]) -> None:
        conn.execute(update(alerts).where(alerts.c.pk == pk).values(**values))

    def delete_alert(self, conn: Connection, pk: int) -> None:
        conn.execute(delete(alert_deliveries).where(alert_deliveries.c.alert_pk == pk))
        conn.execute(delete(alerts).where(alerts.c.pk == pk))

    def alert_by_pk(self, conn: Connection, pk: int) -> Any:
        return conn.execute(select(alerts).where(alerts.c.pk == pk)).one()

    def alert_ids(self, conn: Connection, pks: set[int]) -> dict[int, str]:
        if not pks:
            return {}
        rows = conn.execute(select(alerts.c.pk, alerts.c.id).where(alerts.c.pk.in_(pks)))
        return {int(r.pk): str(r.id) for r in rows}

    def find_firing(
        self, conn: Connection, project_pk: int, fingerprint: str, starts_at: int
    ) -> Any:
        """The row of one firing of a fingerprint (the one that started at `starts_at`)."""
        return conn.execute(
            select(alerts).where(
                alerts.c.project_pk == project_pk,
                alerts.c.fingerprint == fingerprint,
                alerts.c.starts_at == starts_at,
            )
        ).first()

    def find_alert(self, conn: Connection, project_pk: int, alert_id: str) -> Any:
        return conn.execute(
            select(alerts).where(alerts.c.project_pk == project_pk, alerts.c.id == alert_id)
        ).first()

    def list_alerts(
        self,
        conn: Connection,
        project_pk: int,
        *,
        states: Sequence[str] | None = None,
        endpoint: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 100,
    ) -> list[Any]:
        """Newest first. `since`/`until`: alerts that were open at some time in [since, until)."""
        query = select(alerts).where(alerts.c.project_pk == project_pk)
        if states:
            query = query.where(alerts.c.state.in_(list(states)))
        if endpoint is not None:
            query = query.where(alerts.c.endpoint == endpoint)
        if until is not None:
            query = query.where(alerts.c.starts_at < until)
        if since is not None:
            query = query.where(or_(alerts.c.ends_at.is_(None), alerts.c.ends_at >= since))
        return list(conn.execute(query.order_by(alerts.c.pk.desc()).limit(limit)).all())

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        for table in (alert_deliveries, alerts, alert_silences, alert_engine_state, alert_settings):
            conn.execute(delete(table).where(table.c.project_pk == project_pk))


class SilenceStore:
    def add(self, conn: Connection, values: dict[str, Any]) -> None:
        conn.execute(insert(alert_silences).values(**values))

    def find(self, conn: Connection, project_pk: int, silence_id: str) -> Any:
        return conn.execute(
            select(alert_silences).where(
                alert_silences.c.project_pk == project_pk, alert_silences.c.id == silence_id
            )
        ).first()

    def list(
        self, conn: Connection, project_pk: int, *, current_at: int | None, limit: int = 200
    ) -> list[Any]:
        """Newest first; with `current_at`, only those not ended nor expired by then."""
        query = select(alert_silences).where(alert_silences.c.project_pk == project_pk)
        if current_at is not None:
            query = query.where(
                alert_silences.c.ends_at > current_at,
                or_(
                    alert_silences.c.expired_at.is_(None),
                    alert_silences.c.expired_at > current_at,
                ),
            )
        return list(conn.execute(query.order_by(alert_silences.c.pk.desc()).limit(limit)).all())

    def expire(self, conn: Connection, pk: int, by: str, now: int) -> None:
        conn.execute(
            update(alert_silences)
            .where(alert_silences.c.pk == pk)
            .values(expired_at=now, expired_by=by)
        )


class DeliveryStore:
    def add(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(alert_deliveries), list(rows))

    def due(self, conn: Connection, now: int, limit: int) -> list[Any]:
        return list(
            conn.execute(
                select(alert_deliveries)
                .where(
                    alert_deliveries.c.state == "pending",
                    alert_deliveries.c.next_attempt_at <= now,
                )
                .order_by(alert_deliveries.c.next_attempt_at, alert_deliveries.c.pk)
                .limit(limit)
            ).all()
        )

    def claim(
        self, conn: Connection, pk: int, seen_next: int, attempts: int, lease_until: int
    ) -> bool:
        """Take a due delivery for one attempt: only if nobody else took it since it was read
        (its `next_attempt_at` is still what was seen). The lease is when another worker may
        try again if this one dies before recording the outcome."""
        result = conn.execute(
            update(alert_deliveries)
            .where(
                and_(
                    alert_deliveries.c.pk == pk,
                    alert_deliveries.c.state == "pending",
                    alert_deliveries.c.next_attempt_at == seen_next,
                )
            )
            .values(attempts=attempts, next_attempt_at=lease_until)
        )
        return bool(result.rowcount)

    def finish(self, conn: Connection, pk: int, values: dict[str, Any]) -> None:
        conn.execute(update(alert_deliveries).where(alert_deliveries.c.pk == pk).values(**values))

    def list(
        self,
        conn: Connection,
        project_pk: int,
        *,
        state: str | None = None,
        alert_pk: int | None = None,
        limit: int = 100,
    ) -> list[Any]:
        query = select(alert_deliveries).where(alert_deliveries.c.project_pk == project_pk)
        if state is not None:
            query = query.where(alert_deliveries.c.state == state)
        if alert_pk is not None:
            query = query.where(alert_deliveries.c.alert_pk == alert_pk)
        return list(conn.execute(query.order_by(alert_deliveries.c.pk.desc()).limit(limit)).all())


def _holds_something(state: str) -> bool:
    data = json.loads(state)
    return bool(data.get("alerts") or data.get("groups"))
