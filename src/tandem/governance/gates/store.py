"""GateStore: the SQL over gates, their sign-offs and attestations, and criterion waivers. No
rules, no permissions: GateService checks those first. A gate names its model version by pk;
the service asks the registry for the version's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tandem.errors import AlreadyExists
from tandem.governance.gates.models import GateStatus, SignDecision, SignOff
from tandem.governance.gates.tables import (
    criterion_waivers,
    gate_attestations,
    gate_signoffs,
    gates,
)


@dataclass(frozen=True, slots=True)
class GateRow:
    """A gate as stored, with its version's model name and number once the service has them
    (`model`, `version`); `pk` and `model_version_pk` are 0 for a gate not stored (what
    `check` would open)."""

    pk: int
    id: str
    model_version_pk: int
    from_stage: str
    to_stage: str
    status: str
    opened_at: int
    opened_by: str
    closed_at: int | None
    closed_by: str | None
    reason: str
    outcome: str | None
    model: str = ""
    version: int = 0


def _row(r: Any) -> GateRow:
    return GateRow(
        pk=r.pk, id=r.id, model_version_pk=r.model_version_pk, from_stage=r.from_stage,
        to_stage=r.to_stage, status=r.status, opened_at=r.opened_at, opened_by=r.opened_by,
        closed_at=r.closed_at, closed_by=r.closed_by, reason=r.reason, outcome=r.outcome,
    )  # fmt: skip


class GateStore:
    # -- gates ------------------------------------------------------------------------------

    def insert(
        self,
        conn: Connection,
        *,
        gate_id: str,
        project_pk: int,
        version_pk: int,
        from_stage: str,
        to_stage: str,
        by: str,
        now: int,
    ) -> None:
        conn.execute(
            insert(gates).values(
                id=gate_id,
                project_pk=project_pk,
                model_version_pk=version_pk,
                from_stage=from_stage,
                to_stage=to_stage,
                status=GateStatus.OPEN.value,
                opened_at=now,
                opened_by=by,
                reason="",
            )
        )

    def get(self, conn: Connection, project_pk: int, gate_id: str) -> GateRow | None:
        row = conn.execute(
            select(gates).where(gates.c.id == gate_id.lower(), gates.c.project_pk == project_pk)
        ).first()
        return None if row is None else _row(row)

    def lock(self, conn: Connection, project_pk: int, gate_id: str) -> None:
        """Lock the gate's row until the transaction ends (PostgreSQL; SQLite's writes are
        serialised already)."""
        conn.execute(
            select(gates.c.pk)
            .where(gates.c.id == gate_id.lower(), gates.c.project_pk == project_pk)
            .with_for_update()
        ).first()

    def open_for(self, conn: Connection, version_pk: int) -> GateRow | None:
        """The version's open gate, if it has one."""
        row = conn.execute(
            select(gates).where(
                gates.c.model_version_pk == version_pk, gates.c.status == GateStatus.OPEN.value
            )
        ).first()
        return None if row is None else _row(row)

    def newest_passed(
        self, conn: Connection, version_pk: int, to_stages: tuple[str, ...]
    ) -> GateRow | None:
        """The version's newest gate that passed to one of `to_stages`, if any."""
        row = conn.execute(
            select(gates)
            .where(
                gates.c.model_version_pk == version_pk,
                gates.c.status == GateStatus.PASSED.value,
                gates.c.to_stage.in_(to_stages),
            )
            .order_by(gates.c.pk.desc())
            .limit(1)
        ).first()
        return None if row is None else _row(row)

    def of_project(
        self, conn: Connection, project_pk: int, status: GateStatus | None, *, limit: int = 200
    ) -> list[GateRow]:
        """The project's gates (with `status`, or all), newest first."""
        query = select(gates).where(gates.c.project_pk == project_pk)
        if status is not None:
            query = query.where(gates.c.status == status.value)
        return [_row(r) for r in conn.execute(query.order_by(gates.c.pk.desc()).limit(limit))]

    def close(
        self,
        conn: Connection,
        gate_pk: int,
        status: GateStatus,
        *,
        by: str,
        now: int,
        reason: str,
        outcome: str | None,
    ) -> None:
        conn.execute(
            update(gates)
            .where(gates.c.pk == gate_pk)
            .values(
                status=status.value, closed_at=now, closed_by=by, reason=reason, outcome=outcome
            )
        )

    # -- sign-offs ---------------------------------------------------------------------------

    def signoffs(self, conn: Connection, gate_pk: int) -> list[SignOff]:
        rows = conn.execute(
            select(gate_signoffs)
            .where(gate_signoffs.c.gate_pk == gate_pk)
            .order_by(gate_signoffs.c.at)
        ).all()
        return [
            SignOff(
                member=r.member,
                role=r.role,
                letter=r.letter,
                decision=SignDecision(r.decision),
                comment=r.comment,
                at=r.at,
            )
            for r in rows
        ]

    def add_signoff(self, conn: Connection, gate_pk: int, signoff: SignOff) -> None:
        conn.execute(
            insert(gate_signoffs).values(gate_pk=gate_pk, **signoff.model_dump(mode="json"))
        )

    # -- attestations --------------------------------------------------------------------------

    def attestations(self, conn: Connection, gate_pk: int) -> dict[str, Any]:
        """The gate's attestations by item: rows with member, role and comment."""
        rows = conn.execute(
            select(gate_attestations).where(gate_attestations.c.gate_pk == gate_pk)
        ).all()
        return {r.item: r for r in rows}

    def attested_by(self, conn: Connection, gate_pk: int, item: str) -> str | None:
        return conn.execute(
            select(gate_attestations.c.member).where(
                gate_attestations.c.gate_pk == gate_pk, gate_attestations.c.item == item
            )
        ).scalar()

    def add_attestation(
        self,
        conn: Connection,
        gate_pk: int,
        item: str,
        *,
        member: str,
        role: str,
        comment: str,
        now: int,
    ) -> None:
        conn.execute(
            insert(gate_attestations).values(
                gate_pk=gate_pk, item=item, member=member, role=role, comment=comment, at=now
            )
        )

    # -- criterion waivers ----------------------------------------------------------------------

    def add_waiver(
        self,
        conn: Connection,
        version_pk: int,
        criterion: str,
        *,
        decision_pk: int,
        by: str,
        role: str,
        now: int,
    ) -> None:
        """Raises:
        AlreadyExists: the criterion is waived for this version already."""
        try:
            conn.execute(
                insert(criterion_waivers).values(
                    model_version_pk=version_pk,
                    criterion=criterion,
                    decision_pk=decision_pk,
                    waived_by=by,
                    role=role,
                    at=now,
                )
            )
        except IntegrityError:
            raise AlreadyExists(f"{criterion!r} is waived for this version already") from None

    def waivers(self, conn: Connection, version_pk: int) -> dict[str, int]:
        """The criteria waived for a version, with the pk of the decision that waived each."""
        rows = conn.execute(
            select(criterion_waivers.c.criterion, criterion_waivers.c.decision_pk).where(
                criterion_waivers.c.model_version_pk == version_pk
            )
        ).all()
        return {r.criterion: r.decision_pk for r in rows}

    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """A purged project's gates go with it, with their sign-offs, attestations and the
        waivers on its versions (each waiver was made on one of its gates)."""
        project_gates = select(gates.c.pk).where(gates.c.project_pk == project_pk)
        gated = select(gates.c.model_version_pk).where(gates.c.project_pk == project_pk)
        conn.execute(delete(gate_signoffs).where(gate_signoffs.c.gate_pk.in_(project_gates)))
        conn.execute(
            delete(gate_attestations).where(gate_attestations.c.gate_pk.in_(project_gates))
        )
        conn.execute(
            delete(criterion_waivers).where(criterion_waivers.c.model_version_pk.in_(gated))
        )
        conn.execute(delete(gates).where(gates.c.project_pk == project_pk))
