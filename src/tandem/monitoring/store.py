"""MonitorStore: the SQL over monitors, their window results and the claims workers hold on
windows. No rules, no permissions: MonitoringService checks those first."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tandem.monitoring.models import Monitor, MonitorResult, MonitorSpec, Severity, SignalKind
from tandem.monitoring.tables import monitor_claims, monitor_results, monitors

_m = monitors.c
_r = monitor_results.c
_c = monitor_claims.c


class MonitorStore:
    def __init__(self, *, is_sqlite: bool) -> None:
        self._is_sqlite = is_sqlite

    # -- monitors ---------------------------------------------------------------------------

    def find(self, conn: Connection, project_pk: int, name: str, *, lock: bool = False) -> Any:
        query = select(monitors).where(_m.project_pk == project_pk, _m.name == name)
        if lock and not self._is_sqlite:  # SQLite: the write transaction holds the database
            query = query.with_for_update()
        return conn.execute(query).first()

    def insert(
        self,
        conn: Connection,
        *,
        monitor_id: str,
        project_pk: int,
        spec: MonitorSpec,
        source: str,
        by: str,
        now: int,
    ) -> int:
        inserted = conn.execute(
            insert(monitors)
            .values(
                id=monitor_id, project_pk=project_pk, name=spec.name, endpoint=spec.endpoint,
                version=spec.version, kind=spec.kind.value, window_ms=spec.window_ms(),
                spec=spec.model_dump_json(by_alias=True), state="{}", source=source,
                owner=spec.owner, created_at=now, created_by=by, updated_at=now,
            )
            .returning(_m.pk)
        )  # fmt: skip
        return int(inserted.scalar_one())

    def update_spec(self, conn: Connection, pk: int, spec: MonitorSpec, now: int) -> None:
        conn.execute(
            update(monitors)
            .where(_m.pk == pk)
            .values(spec=spec.model_dump_json(by_alias=True), owner=spec.owner, updated_at=now)
        )

    def set_state(self, conn: Connection, pk: int, state: dict[str, Any]) -> None:
        conn.execute(update(monitors).where(_m.pk == pk).values(state=orjson.dumps(state).decode()))

    def list(
        self, conn: Connection, project_pk: int, endpoint: str | None = None
    ) -> builtins.list[Any]:
        query = select(monitors).where(_m.project_pk == project_pk)
        if endpoint is not None:
            query = query.where(_m.endpoint == endpoint)
        return list(conn.execute(query.order_by(_m.name)).all())

    def all(self, conn: Connection) -> builtins.list[Any]:
        """Every monitor of every project (the worker's pass)."""
        return list(conn.execute(select(monitors).order_by(_m.project_pk, _m.pk)).all())

    def delete(self, conn: Connection, pk: int) -> None:
        conn.execute(delete(monitor_claims).where(_c.monitor_pk == pk))
        conn.execute(delete(monitor_results).where(_r.monitor_pk == pk))
        conn.execute(delete(monitors).where(_m.pk == pk))

    @staticmethod
    def model(row: Any, project: str) -> Monitor:
        spec = orjson.loads(row.spec)
        return Monitor.model_validate(
            {
                **spec,
                "id": row.id,
                "project": project,
                "created_at": row.created_at,
                "created_by": row.created_by,
                "updated_at": row.updated_at,
                "source": row.source,
            }
        )

    # -- results ----------------------------------------------------------------------------

    def evaluated_windows(self, conn: Connection, monitor_pk: int, since: int) -> set[int]:
        """The starts of the monitor's windows with a result, from `since` on."""
        rows = conn.execute(
            select(_r.window_start).where(_r.monitor_pk == monitor_pk, _r.window_start >= since)
        )
        return {int(row.window_start) for row in rows}

    def has_result(self, conn: Connection, monitor_pk: int, window_start: int) -> bool:
        found = conn.execute(
            select(_r.seq).where(_r.monitor_pk == monitor_pk, _r.window_start == window_start)
        ).first()
        return found is not None

    def insert_result(self, conn: Connection, monitor_pk: int, project_pk: int,
                      result: MonitorResult) -> int:  # fmt: skip
        """The window's result (replacing the one it had: a window evaluated again after its
        labels changed gets a new `seq`, so alerting reads it again)."""
        conn.execute(
            delete(monitor_results).where(
                _r.monitor_pk == monitor_pk, _r.window_start == result.window_start
            )
        )
        inserted = conn.execute(
            insert(monitor_results)
            .values(
                monitor_pk=monitor_pk, project_pk=project_pk, window_start=result.window_start,
                window_end=result.window_end, version=result.version, value=result.value,
                condition=result.condition, breached=result.breached,
                estimated=result.estimated, band_low=result.band_low,
                band_high=result.band_high, samples=result.samples,
                details=orjson.dumps(result.details, default=str).decode(),
                evaluated_at=result.evaluated_at, evaluated_by=result.evaluated_by,
            )
            .returning(_r.seq)
        )  # fmt: skip
        return int(inserted.scalar_one())

    def delete_results(self, conn: Connection, monitor_pk: int, starts: Sequence[int]) -> None:
        if starts:
            conn.execute(
                delete(monitor_results).where(
                    _r.monitor_pk == monitor_pk, _r.window_start.in_(list(starts))
                )
            )

    def results(
        self,
        conn: Connection,
        monitor_pk: int,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int = 100,
    ) -> builtins.list[Any]:
        """The monitor's results, newest window first."""
        query = select(monitor_results).where(_r.monitor_pk == monitor_pk)
        if since is not None:
            query = query.where(_r.window_start >= since)
        if until is not None:
            query = query.where(_r.window_start < until)
        return list(conn.execute(query.order_by(_r.window_start.desc()).limit(limit)).all())

    def latest(self, conn: Connection, monitor_pks: Sequence[int]) -> dict[int, Any]:
        """The newest window's result of each monitor that has one."""
        if not monitor_pks:
            return {}
        newest = (
            select(_r.monitor_pk, func.max(_r.window_start).label("start"))
            .where(_r.monitor_pk.in_(monitor_pks))
            .group_by(_r.monitor_pk)
            .subquery()
        )
        rows = conn.execute(
            select(monitor_results).join(
                newest,
                and_(_r.monitor_pk == newest.c.monitor_pk, _r.window_start == newest.c.start),
            )
        ).all()
        return {int(row.monitor_pk): row for row in rows}

    def since(self, conn: Connection, cursor: int, limit: int) -> builtins.list[Any]:
        """Results with `seq` > `cursor`, in order, with their monitor's row fields."""
        rows = conn.execute(
            select(
                monitor_results,
                _m.name.label("monitor_name"),
                _m.endpoint.label("monitor_endpoint"),
                _m.kind.label("monitor_kind"),
                _m.spec.label("monitor_spec"),
            )
            .join(monitors, _m.pk == _r.monitor_pk)
            .where(_r.seq > cursor)
            .order_by(_r.seq)
            .limit(limit)
        ).all()
        return list(rows)

    @staticmethod
    def result_model(
        row: Any, *, project: str, monitor: str, endpoint: str, kind: str, severity: str
    ) -> MonitorResult:
        return MonitorResult(
            seq=row.seq,
            project=project,
            monitor=monitor,
            endpoint=endpoint,
            kind=SignalKind(kind),
            severity=Severity(severity),
            window_start=row.window_start,
            window_end=row.window_end,
            version=row.version,
            value=row.value,
            condition=row.condition,
            breached=row.breached,
            estimated=bool(row.estimated),
            band_low=row.band_low,
            band_high=row.band_high,
            samples=row.samples,
            details=orjson.loads(row.details),
            evaluated_at=row.evaluated_at,
            evaluated_by=row.evaluated_by,
        )

    # -- claims -----------------------------------------------------------------------------

    def claim(
        self,
        conn: Connection,
        monitor_pk: int,
        window_start: int,
        *,
        worker: str,
        token: str,
        now: int,
        lease_ms: int,
    ) -> bool:
        """Take the lease on a window: a new claim, or one whose lease expired (its worker
        died). False when another worker holds it."""
        dialect = sqlite if self._is_sqlite else postgresql
        values = {
            "monitor_pk": monitor_pk, "window_start": window_start, "worker": worker,
            "token": token, "expires_at": now + lease_ms,
        }  # fmt: skip
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT
        inserted = conn.execute(
            dialect.insert(monitor_claims)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(_c.monitor_pk)
        ).first()
        if inserted is not None:
            return True
        taken = conn.execute(
            update(monitor_claims)
            .where(
                _c.monitor_pk == monitor_pk,
                _c.window_start == window_start,
                _c.expires_at <= now,
            )
            .values(worker=worker, token=token, expires_at=now + lease_ms)
            .returning(_c.monitor_pk)
        ).first()
        return taken is not None

    def release(self, conn: Connection, monitor_pk: int, window_start: int, token: str) -> bool:
        """Give the lease up (the result is written, or the evaluation failed). False when the
        claim is no longer this one's (it expired and another worker took it)."""
        gone = conn.execute(
            delete(monitor_claims)
            .where(
                _c.monitor_pk == monitor_pk,
                _c.window_start == window_start,
                _c.token == token,
            )
            .returning(_c.monitor_pk)
        ).first()
        return gone is not None

    # -- gc ---------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        of_project = select(_m.pk).where(_m.project_pk == project_pk)
        conn.execute(delete(monitor_claims).where(_c.monitor_pk.in_(of_project)))
        conn.execute(delete(monitor_results).where(_r.monitor_pk.in_(of_project)))
        conn.execute(delete(monitors).where(_m.project_pk == project_pk))
