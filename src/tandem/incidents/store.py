"""Every SQL statement of the incidents domain: tables in, models or rows out. No rules."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tandem.errors import NotFound
from tandem.incidents.models import (
    Impact,
    Incident,
    IncidentSeverity,
    IncidentStatus,
    Playbook,
    PlaybookStep,
    Postmortem,
    PostmortemStatus,
    TickedStep,
    TimelineEntry,
    TimelineSource,
)
from tandem.incidents.tables import incident_entries, incidents, playbooks, postmortems


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class IncidentStore:
    # -- incidents ------------------------------------------------------------------------

    def add(self, conn: Connection, project_pk: int, values: dict[str, Any]) -> int:
        """A new incident numbered after the project's last; returns its number."""
        current = conn.execute(
            select(func.coalesce(func.max(incidents.c.number), 0)).where(
                incidents.c.project_pk == project_pk
            )
        ).scalar_one()
        number = int(current) + 1
        conn.execute(insert(incidents).values(project_pk=project_pk, number=number, **values))
        return number

    def row(self, conn: Connection, project_pk: int, project: str, number: int, *,
            lock: bool = False) -> Any:  # fmt: skip
        query = select(incidents).where(
            incidents.c.project_pk == project_pk, incidents.c.number == number
        )
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"project {project!r} has no incident {number}")
        return row

    def open_for_endpoint(self, conn: Connection, project_pk: int, endpoint: str) -> Any:
        """The endpoint's incident that is not resolved yet, held, or None."""
        return conn.execute(
            select(incidents)
            .where(incidents.c.project_pk == project_pk, incidents.c.open_endpoint == endpoint)
            .with_for_update()
        ).first()

    def change(self, conn: Connection, pk: int, values: dict[str, Any]) -> None:
        conn.execute(update(incidents).where(incidents.c.pk == pk).values(**values))

    def rows(self, conn: Connection, project_pk: int, *, status: list[str] | None = None,
             endpoint: str | None = None) -> list[Any]:  # fmt: skip
        query = select(incidents).where(incidents.c.project_pk == project_pk)
        if status:
            query = query.where(incidents.c.status.in_(status))
        if endpoint:
            query = query.where(incidents.c.endpoint == endpoint)
        return list(conn.execute(query.order_by(incidents.c.number.desc())).all())

    def postmortem_statuses(self, conn: Connection, incident_pks: list[int]) -> dict[int, str]:
        if not incident_pks:
            return {}
        rows = conn.execute(
            select(postmortems.c.incident_pk, postmortems.c.status).where(
                postmortems.c.incident_pk.in_(incident_pks)
            )
        ).all()
        return {int(r.incident_pk): str(r.status) for r in rows}

    @staticmethod
    def model(row: Any, project: str, postmortem: str | None = None) -> Incident:
        tta = row.acknowledged_at - row.opened_at if row.acknowledged_at is not None else None
        ttr = row.resolved_at - row.opened_at if row.resolved_at is not None else None
        return Incident(
            project=project, number=row.number, title=row.title,
            severity=IncidentSeverity(row.severity), status=IncidentStatus(row.status),
            endpoint=row.endpoint, kind=row.kind, summary=row.summary, commander=row.commander,
            responders=json.loads(row.responders), source=row.source,
            fingerprints=json.loads(row.fingerprints), playbook=row.playbook,
            steps=[TickedStep.model_validate(s) for s in json.loads(row.steps)],
            links=json.loads(row.links),
            opened_at=row.opened_at, opened_by=row.opened_by,
            acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
            mitigated_at=row.mitigated_at, mitigated_by=row.mitigated_by,
            resolved_at=row.resolved_at, resolved_by=row.resolved_by,
            updated_at=row.updated_at, tta_ms=tta, ttr_ms=ttr, postmortem=postmortem,
        )  # fmt: skip

    # -- the incident's own timeline ------------------------------------------------------

    def add_entry(self, conn: Connection, incident_pk: int, entry: TimelineEntry) -> None:
        conn.execute(
            insert(incident_entries).values(
                incident_pk=incident_pk, at=entry.at, source=entry.source.value,
                kind=entry.kind, actor=entry.actor, text=entry.text, ref=entry.ref,
                details=json_text(entry.details),
            )
        )  # fmt: skip

    def entries(self, conn: Connection, incident_pk: int) -> list[TimelineEntry]:
        rows = conn.execute(
            select(incident_entries)
            .where(incident_entries.c.incident_pk == incident_pk)
            .order_by(incident_entries.c.at, incident_entries.c.pk)
        ).all()
        return [
            TimelineEntry(
                at=r.at, source=TimelineSource(r.source), kind=r.kind, actor=r.actor,
                text=r.text, ref=r.ref, details=json.loads(r.details),
            )
            for r in rows
        ]  # fmt: skip

    # -- playbooks ------------------------------------------------------------------------

    def playbook(
        self, conn: Connection, project_pk: int, project: str, kind: str
    ) -> Playbook | None:
        row = conn.execute(
            select(playbooks).where(playbooks.c.project_pk == project_pk, playbooks.c.kind == kind)
        ).first()
        return self._playbook(row, project) if row is not None else None

    def playbooks(self, conn: Connection, project_pk: int, project: str) -> list[Playbook]:
        rows = conn.execute(
            select(playbooks).where(playbooks.c.project_pk == project_pk).order_by(playbooks.c.kind)
        ).all()
        return [self._playbook(r, project) for r in rows]

    def put_playbook(self, conn: Connection, project_pk: int, values: dict[str, Any]) -> None:
        done = conn.execute(
            update(playbooks)
            .where(playbooks.c.project_pk == project_pk, playbooks.c.kind == values["kind"])
            .values(**values)
        )
        if done.rowcount == 0:
            conn.execute(insert(playbooks).values(project_pk=project_pk, **values))

    def delete_playbook(self, conn: Connection, project_pk: int, kind: str) -> bool:
        done = conn.execute(
            delete(playbooks).where(playbooks.c.project_pk == project_pk, playbooks.c.kind == kind)
        )
        return bool(done.rowcount)

    @staticmethod
    def _playbook(row: Any, project: str) -> Playbook:
        return Playbook(
            project=project, kind=row.kind, title=row.title, source=row.source,
            steps=[PlaybookStep.model_validate(s) for s in json.loads(row.steps)],
            updated_at=row.updated_at, updated_by=row.updated_by,
        )  # fmt: skip

    # -- postmortems ----------------------------------------------------------------------

    def postmortem_row(self, conn: Connection, incident_pk: int, *, lock: bool = False) -> Any:
        query = select(postmortems).where(postmortems.c.incident_pk == incident_pk)
        if lock:
            query = query.with_for_update()
        return conn.execute(query).first()

    def add_postmortem(self, conn: Connection, values: dict[str, Any]) -> None:
        conn.execute(insert(postmortems).values(**values))

    def change_postmortem(self, conn: Connection, pk: int, values: dict[str, Any]) -> None:
        conn.execute(update(postmortems).where(postmortems.c.pk == pk).values(**values))

    @staticmethod
    def postmortem(row: Any, project: str, number: int, extra: dict[str, Any]) -> Postmortem:
        body = json.loads(row.body)
        return Postmortem.model_validate(
            {
                **body, **extra, "project": project, "incident": number,
                "status": PostmortemStatus(row.status),
                "impact": Impact.model_validate(json.loads(row.impact)),
                "created_at": row.created_at, "created_by": row.created_by,
                "updated_at": row.updated_at, "updated_by": row.updated_by,
                "submitted_at": row.submitted_at, "submitted_by": row.submitted_by,
                "published_at": row.published_at, "published_by": row.published_by,
            }
        )  # fmt: skip

    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        pks = select(incidents.c.pk).where(incidents.c.project_pk == project_pk)
        conn.execute(delete(incident_entries).where(incident_entries.c.incident_pk.in_(pks)))
        conn.execute(delete(postmortems).where(postmortems.c.project_pk == project_pk))
        conn.execute(delete(incidents).where(incidents.c.project_pk == project_pk))
        conn.execute(delete(playbooks).where(playbooks.c.project_pk == project_pk))
