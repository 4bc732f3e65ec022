"""SQL for the evaluation records: the only module that reads or writes the evaluations table
(gc purges a project's through the service). Methods take the caller's connection, so a service
call is one transaction; rows come back as they are stored (pks of the model and dataset
versions, which the service names through the registry and data services)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tandem.evaluation.tables import evaluations


class EvaluationStore:
    def insert(self, conn: Connection, **values: Any) -> int:
        result = conn.execute(insert(evaluations).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get(self, conn: Connection, eval_id: str) -> Any:
        return conn.execute(select(evaluations).where(evaluations.c.id == eval_id)).first()

    def find(self, conn: Connection, project_pk: int, eval_id: str) -> Any:
        return conn.execute(
            select(evaluations).where(
                evaluations.c.id == eval_id, evaluations.c.project_pk == project_pk
            )
        ).first()

    def pk_in(self, conn: Connection, project_pk: int, eval_id: str) -> int | None:
        pk = conn.execute(
            select(evaluations.c.pk).where(
                evaluations.c.id == eval_id, evaluations.c.project_pk == project_pk
            )
        ).scalar()
        return int(pk) if pk is not None else None

    def of_versions(self, conn: Connection, version_pks: Sequence[int], *, limit: int) -> list[Any]:
        """The evaluations of these model versions, newest first."""
        if not version_pks:
            return []
        query = (
            select(evaluations)
            .where(evaluations.c.model_version_pk.in_(list(version_pks)))
            .order_by(evaluations.c.pk.desc())
            .limit(limit)
        )
        return list(conn.execute(query).all())

    def labels(self, conn: Connection, pks: Sequence[int]) -> list[Any]:
        """(pk, id, task, project_pk) of the evaluations `pks` that exist."""
        if not pks:
            return []
        query = select(
            evaluations.c.pk, evaluations.c.id, evaluations.c.task, evaluations.c.project_pk
        ).where(evaluations.c.pk.in_(list(pks)))
        return list(conn.execute(query).all())

    def delete(self, conn: Connection, pk: int) -> None:
        conn.execute(delete(evaluations).where(evaluations.c.pk == pk))

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """A purged project's evaluations go with it."""
        conn.execute(delete(evaluations).where(evaluations.c.project_pk == project_pk))
