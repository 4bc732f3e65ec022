"""DecisionStore: the SQL over decision records. No rules, no permissions: DecisionService
checks those first."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from tandem.governance.decisions.models import DecisionRecord, DecisionStatus
from tandem.governance.decisions.tables import decisions


class DecisionStore:
    def next_number(self, conn: Connection, project_pk: int) -> int:
        return (
            int(
                conn.execute(
                    select(func.coalesce(func.max(decisions.c.number), 0)).where(
                        decisions.c.project_pk == project_pk
                    )
                ).scalar_one()
            )
            + 1
        )

    def insert(
        self,
        conn: Connection,
        project_pk: int,
        number: int,
        *,
        title: str,
        context: str,
        options: str,
        decision: str,
        consequences: str,
        status: DecisionStatus,
        links: list[str],
        approvers: list[str],
        by: str,
        now: int,
    ) -> int:
        """Insert a record; its pk."""
        inserted = conn.execute(
            insert(decisions).values(
                project_pk=project_pk,
                number=number,
                title=title,
                context=context,
                options=options,
                decision=decision,
                consequences=consequences,
                status=status.value,
                links=orjson.dumps(links).decode(),
                approvers=orjson.dumps(approvers).decode(),
                created_at=now,
                created_by=by,
                accepted_at=now if status is DecisionStatus.ACCEPTED else None,
            )
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def row(self, conn: Connection, project_pk: int, number: int) -> Any:
        return conn.execute(
            select(decisions).where(
                decisions.c.project_pk == project_pk, decisions.c.number == number
            )
        ).first()

    def get(
        self, conn: Connection, project_pk: int, project: str, number: int
    ) -> DecisionRecord | None:
        row = self.row(conn, project_pk, number)
        return None if row is None else self.record(row, project)

    def accept(
        self, conn: Connection, project_pk: int, number: int, approvers: list[str], now: int
    ) -> None:
        conn.execute(
            update(decisions)
            .where(decisions.c.project_pk == project_pk, decisions.c.number == number)
            .values(
                status=DecisionStatus.ACCEPTED.value,
                accepted_at=now,
                approvers=orjson.dumps(approvers).decode(),
            )
        )

    def supersede(self, conn: Connection, pk: int, by_number: int) -> None:
        conn.execute(
            update(decisions)
            .where(decisions.c.pk == pk)
            .values(status=DecisionStatus.SUPERSEDED.value, superseded_by=by_number)
        )

    def search(
        self, conn: Connection, project_pk: int, project: str, q: str | None, *, limit: int = 500
    ) -> list[DecisionRecord]:
        """Records newest first; `q` matches title, context and decision text, ignoring case."""
        query = select(decisions).where(decisions.c.project_pk == project_pk)
        if q:
            pattern = f"%{q.lower()}%"
            query = query.where(
                or_(
                    *(
                        func.lower(c).like(pattern)
                        for c in (decisions.c.title, decisions.c.context, decisions.c.decision)
                    )
                )
            )
        rows = conn.execute(query.order_by(decisions.c.number.desc()).limit(limit)).all()
        return [self.record(r, project) for r in rows]

    def numbers(self, conn: Connection, pks: set[int]) -> dict[int, int]:
        """{pk: number} of the records among `pks`."""
        if not pks:
            return {}
        rows = conn.execute(
            select(decisions.c.pk, decisions.c.number).where(decisions.c.pk.in_(sorted(pks)))
        ).all()
        return {r.pk: r.number for r in rows}

    @staticmethod
    def record(row: Any, project: str) -> DecisionRecord:
        return DecisionRecord(
            project=project,
            number=row.number,
            title=row.title,
            context=row.context,
            options=row.options,
            decision=row.decision,
            consequences=row.consequences,
            status=DecisionStatus(row.status),
            links=orjson.loads(row.links),
            approvers=orjson.loads(row.approvers),
            superseded_by=row.superseded_by,
            created_at=row.created_at,
            created_by=row.created_by,
            accepted_at=row.accepted_at,
        )

    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """The decision records of a purged project go with it."""
        conn.execute(delete(decisions).where(decisions.c.project_pk == project_pk))
