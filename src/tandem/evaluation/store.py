"""SQL gc needs from the evaluation tables (the service writes and reads them itself)."""

from __future__ import annotations

from sqlalchemy import Connection, delete

from tandem.evaluation.tables import evaluations


def purge_evaluations(conn: Connection, project_pk: int) -> None:
    """A purged project's evaluations go with it."""
    conn.execute(delete(evaluations).where(evaluations.c.project_pk == project_pk))
