"""OutcomeStore: the SQL over label batches, realised windows and KPIs. No rules, no permissions:
OutcomeService checks those first."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, text, update

from tandem.outcomes.models import ChangedWindow, Kpi, LabelBatch
from tandem.outcomes.tables import (
    outcome_kpis,
    outcome_label_batches,
    outcome_label_windows,
    outcome_windows,
)

_batch = outcome_label_batches.c
_touch = outcome_label_windows.c
_window = outcome_windows.c
_kpi = outcome_kpis.c


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A label batch's file, in the order batches came in (`pk`)."""

    pk: int
    oid: str


@dataclass(frozen=True, slots=True)
class WindowRow:
    endpoint: str
    model: str
    version: int
    start: int
    end: int
    samples: int
    figures: dict[str, Any]
    updated_at: int


class OutcomeStore:
    def __init__(self, *, is_sqlite: bool) -> None:
        self._is_sqlite = is_sqlite

    def lock_endpoint(self, conn: Connection, project_pk: int, endpoint: str) -> None:
        """Hold the endpoint's label lock until the transaction ends (PostgreSQL: an advisory
        lock; SQLite's write transactions are one at a time already)."""
        if self._is_sqlite:
            return
        digest = hashlib.blake2b(f"outcomes\x00{project_pk}\x00{endpoint}".encode(), digest_size=8)
        key = int.from_bytes(digest.digest(), "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    # -- label batches -------------------------------------------------------------------------

    def insert_batch(
        self,
        conn: Connection,
        *,
        batch_id: str,
        project_pk: int,
        endpoint: str,
        rows: int,
        matched: int,
        unknown: int,
        duplicates: int,
        size: int,
        oid: str,
        by: str,
        now: int,
        windows: Iterable[int],
    ) -> int:
        """A batch's row and the windows it has labels in; its pk."""
        pk = int(
            conn.execute(
                insert(outcome_label_batches)
                .values(
                    id=batch_id, project_pk=project_pk, endpoint=endpoint, rows=rows,
                    matched=matched, unknown=unknown, duplicates=duplicates, size=size, oid=oid,
                    created_at=now, created_by=by,
                )
                .returning(_batch.pk)
            ).scalar_one()
        )  # fmt: skip
        starts = sorted(set(windows))
        if starts:
            conn.execute(
                insert(outcome_label_windows),
                [
                    {"project_pk": project_pk, "endpoint": endpoint, "window_start": start,
                     "batch_pk": pk}
                    for start in starts
                ],
            )  # fmt: skip
        return pk

    def batches_touching(
        self, conn: Connection, project_pk: int, endpoint: str, starts: Sequence[int]
    ) -> list[StoredBatch]:
        """The batches with labels in any of the windows starting at `starts`, oldest first."""
        if not starts:
            return []
        found: dict[int, str] = {}
        for first in range(0, len(starts), 500):  # bounded IN lists
            chunk = list(starts[first : first + 500])
            rows = conn.execute(
                select(_batch.pk, _batch.oid)
                .join(outcome_label_windows, _touch.batch_pk == _batch.pk)
                .where(
                    _touch.project_pk == project_pk,
                    _touch.endpoint == endpoint,
                    _touch.window_start.in_(chunk),
                )
            ).all()
            found.update({row.pk: row.oid for row in rows})
        return [StoredBatch(pk, found[pk]) for pk in sorted(found)]

    def last_batch(self, conn: Connection, project_pk: int, endpoint: str) -> int:
        """The pk of the endpoint's newest batch (0: none)."""
        found = conn.execute(
            select(_batch.pk)
            .where(_batch.project_pk == project_pk, _batch.endpoint == endpoint)
            .order_by(_batch.pk.desc())
            .limit(1)
        ).scalar()
        return int(found or 0)

    def batches(
        self, conn: Connection, project_pk: int, endpoint: str, limit: int
    ) -> list[LabelBatch]:
        rows = conn.execute(
            select(outcome_label_batches)
            .where(_batch.project_pk == project_pk, _batch.endpoint == endpoint)
            .order_by(_batch.pk.desc())
            .limit(limit)
        ).all()
        return [
            LabelBatch(
                id=r.id, endpoint=r.endpoint, rows=r.rows, matched=r.matched, unknown=r.unknown,
                duplicates=r.duplicates, size=r.size, oid=r.oid, created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ]  # fmt: skip

    # -- realised windows ----------------------------------------------------------------------

    def put_windows(
        self, conn: Connection, project_pk: int, endpoint: str, rows: Sequence[WindowRow]
    ) -> None:
        """Insert or replace the figures of each (model, version, window)."""
        for row in rows:
            values = {
                "window_end": row.end,
                "samples": row.samples,
                "figures": orjson.dumps(row.figures).decode(),
                "updated_at": row.updated_at,
            }
            changed = conn.execute(
                update(outcome_windows)
                .where(
                    _window.project_pk == project_pk,
                    _window.endpoint == endpoint,
                    _window.model == row.model,
                    _window.version == row.version,
                    _window.window_start == row.start,
                )
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(outcome_windows).values(
                        project_pk=project_pk, endpoint=endpoint, model=row.model,
                        version=row.version, window_start=row.start, **values,
                    )
                )  # fmt: skip

    def windows(
        self,
        conn: Connection,
        project_pk: int,
        endpoint: str,
        *,
        since: int | None = None,
        until: int | None = None,
        model: str | None = None,
        version: int | None = None,
    ) -> list[WindowRow]:
        query = select(outcome_windows).where(
            _window.project_pk == project_pk, _window.endpoint == endpoint
        )
        if since is not None:
            query = query.where(_window.window_end > since)
        if until is not None:
            query = query.where(_window.window_start < until)
        if model is not None:
            query = query.where(_window.model == model)
        if version is not None:
            query = query.where(_window.version == version)
        rows = conn.execute(
            query.order_by(_window.window_start, _window.model, _window.version)
        ).all()
        return [
            WindowRow(
                endpoint=r.endpoint, model=r.model, version=r.version, start=r.window_start,
                end=r.window_end, samples=r.samples, figures=orjson.loads(r.figures),
                updated_at=r.updated_at,
            )
            for r in rows
        ]  # fmt: skip

    def changed(
        self, conn: Connection, project_pk: int, endpoint: str, since_updated: int
    ) -> list[ChangedWindow]:
        rows = conn.execute(
            select(
                _window.model, _window.version, _window.window_start, _window.window_end,
                _window.updated_at,
            )
            .where(
                _window.project_pk == project_pk,
                _window.endpoint == endpoint,
                _window.updated_at > since_updated,
            )
            .order_by(_window.updated_at, _window.window_start, _window.model, _window.version)
        ).all()  # fmt: skip
        return [
            ChangedWindow(
                model=r.model, version=r.version, start=r.window_start, end=r.window_end,
                updated_at=r.updated_at,
            )
            for r in rows
        ]  # fmt: skip

    # -- KPIs ----------------------------------------------------------------------------------

    def insert_kpi(self, conn: Connection, project_pk: int, kpi: Kpi) -> None:
        conn.execute(
            insert(outcome_kpis).values(
                project_pk=project_pk, endpoint=kpi.endpoint, name=kpi.name, value=kpi.value,
                at=kpi.at, model=kpi.model, version=kpi.version, created_at=kpi.created_at,
                created_by=kpi.created_by,
            )
        )  # fmt: skip

    def kpis(
        self,
        conn: Connection,
        project_pk: int,
        endpoint: str,
        *,
        name: str | None,
        since: int | None,
        until: int | None,
        limit: int,
    ) -> list[Kpi]:
        query = select(outcome_kpis).where(_kpi.project_pk == project_pk, _kpi.endpoint == endpoint)
        if name is not None:
            query = query.where(_kpi.name == name)
        if since is not None:
            query = query.where(_kpi.at >= since)
        if until is not None:
            query = query.where(_kpi.at < until)
        rows = conn.execute(query.order_by(_kpi.at, _kpi.pk).limit(limit)).all()
        return [
            Kpi(
                endpoint=r.endpoint, name=r.name, value=r.value, at=r.at, model=r.model,
                version=r.version, created_at=r.created_at, created_by=r.created_by,
            )
            for r in rows
        ]  # fmt: skip

    # -- gc ------------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """A purged project's label batches, windows and KPIs (gc then sweeps the files)."""
        conn.execute(delete(outcome_label_windows).where(_touch.project_pk == project_pk))
        conn.execute(delete(outcome_label_batches).where(_batch.project_pk == project_pk))
        conn.execute(delete(outcome_windows).where(_window.project_pk == project_pk))
        conn.execute(delete(outcome_kpis).where(_kpi.project_pk == project_pk))
