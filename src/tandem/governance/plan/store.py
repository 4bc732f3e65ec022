"""PlanStore: typed queries over the brief, criteria, RACI and gate-policy tables. No rules, no
permissions: PlanService checks those first."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from tandem.governance.plan.models import Brief, BriefText, Criterion, GatePolicy, RaciLetter
from tandem.governance.plan.tables import brief_versions, criteria, gate_policies, raci
from tandem.registry.models import Stage


class PlanStore:
    # -- brief ----------------------------------------------------------------------------

    def brief(self, conn: Connection, project_pk: int, project: str, version: int | None) -> Brief:
        """Version `version` of the brief (None: the newest); version 0 is the empty brief."""
        query = select(brief_versions).where(brief_versions.c.project_pk == project_pk)
        if version is None:
            query = query.order_by(brief_versions.c.version.desc()).limit(1)
        else:
            query = query.where(brief_versions.c.version == version)
        row = conn.execute(query).first()
        if row is None:
            return Brief(project=project, version=0)
        return Brief(
            project=project,
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            **orjson.loads(row.body),
        )

    def brief_history(self, conn: Connection, project_pk: int, project: str) -> list[Brief]:
        rows = conn.execute(
            select(brief_versions)
            .where(brief_versions.c.project_pk == project_pk)
            .order_by(brief_versions.c.version.desc())
        ).all()
        return [
            Brief(
                project=project,
                version=r.version,
                created_at=r.created_at,
                created_by=r.created_by,
                **orjson.loads(r.body),
            )
            for r in rows
        ]

    def add_brief(
        self, conn: Connection, project_pk: int, version: int, text: BriefText, by: str, now: int
    ) -> None:
        conn.execute(
            insert(brief_versions).values(
                project_pk=project_pk,
                version=version,
                body=text.model_dump_json(),
                created_at=now,
                created_by=by,
            )
        )

    # -- criteria -------------------------------------------------------------------------

    def criteria(self, conn: Connection, project_pk: int, project: str) -> list[Criterion]:
        rows = conn.execute(
            select(criteria).where(criteria.c.project_pk == project_pk).order_by(criteria.c.key)
        ).all()
        return [self._criterion(r, project) for r in rows]

    @staticmethod
    def _criterion(row: Any, project: str) -> Criterion:
        return Criterion(
            project=project, key=row.key, kind=row.kind, metric=row.metric,
            comparator=row.comparator, threshold=row.threshold, dataset=row.dataset,
            slice=row.slice, owner=row.owner, description=row.description,
            updated_at=row.updated_at, updated_by=row.updated_by,
        )  # fmt: skip

    def put_criterion(
        self, conn: Connection, project_pk: int, key: str, values: dict[str, Any]
    ) -> bool:
        """Insert or replace criterion `key`; True if it was new."""
        changed = conn.execute(
            update(criteria)
            .where(criteria.c.project_pk == project_pk, criteria.c.key == key)
            .values(**values)
        ).rowcount
        if not changed:
            conn.execute(insert(criteria).values(project_pk=project_pk, key=key, **values))
        return not changed

    def delete_criterion(self, conn: Connection, project_pk: int, key: str) -> bool:
        result = conn.execute(
            delete(criteria).where(criteria.c.project_pk == project_pk, criteria.c.key == key)
        )
        return bool(result.rowcount)

    # -- RACI -----------------------------------------------------------------------------

    def raci(self, conn: Connection, project_pk: int) -> dict[str, dict[str, RaciLetter]]:
        rows = conn.execute(
            select(raci.c.activity, raci.c.member, raci.c.letter)
            .where(raci.c.project_pk == project_pk)
            .order_by(raci.c.activity, raci.c.member)
        ).all()
        matrix: dict[str, dict[str, RaciLetter]] = {}
        for row in rows:
            matrix.setdefault(row.activity, {})[row.member] = RaciLetter(row.letter)
        return matrix

    def set_raci(
        self, conn: Connection, project_pk: int, matrix: dict[str, dict[str, RaciLetter]]
    ) -> None:
        conn.execute(delete(raci).where(raci.c.project_pk == project_pk))
        rows = [
            {"project_pk": project_pk, "activity": a, "member": m, "letter": letter.value}
            for a, members in matrix.items()
            for m, letter in members.items()
        ]
        if rows:
            conn.execute(insert(raci), rows)

    # -- gate policies ----------------------------------------------------------------------

    def policies(self, conn: Connection, project_pk: int) -> dict[Stage, GatePolicy]:
        rows = conn.execute(
            select(gate_policies.c.stage, gate_policies.c.body).where(
                gate_policies.c.project_pk == project_pk
            )
        ).all()
        return {Stage(r.stage): GatePolicy.model_validate_json(r.body) for r in rows}

    def set_policies(
        self, conn: Connection, project_pk: int, policies: dict[Stage, GatePolicy]
    ) -> None:
        conn.execute(delete(gate_policies).where(gate_policies.c.project_pk == project_pk))
        if policies:
            conn.execute(
                insert(gate_policies),
                [
                    {"project_pk": project_pk, "stage": stage.value, "body": p.model_dump_json()}
                    for stage, p in policies.items()
                ],
            )

    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Everything the plan holds about a purged project goes with it."""
        for table in (gate_policies, brief_versions, criteria, raci):
            conn.execute(delete(table).where(table.c.project_pk == project_pk))
