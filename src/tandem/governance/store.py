"""GovernanceStore: what gc purges with a project. The plan's and the registers' tables are
purged by their own stores (called from here until gc calls each domain's service)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from tandem.governance.plan.store import PlanStore
from tandem.governance.registers.store import RegisterStore
from tandem.governance.tables import (
    criterion_waivers,
    decisions,
    gate_attestations,
    gate_signoffs,
    gates,
    notifications,
    project_webhooks,
)


class GovernanceStore:
    # -- gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Everything governance holds about a purged project goes with it."""
        project_gates = select(gates.c.pk).where(gates.c.project_pk == project_pk)
        conn.execute(delete(gate_signoffs).where(gate_signoffs.c.gate_pk.in_(project_gates)))
        project_decisions = select(decisions.c.pk).where(decisions.c.project_pk == project_pk)
        conn.execute(
            delete(criterion_waivers).where(criterion_waivers.c.decision_pk.in_(project_decisions))
        )
        conn.execute(
            delete(gate_attestations).where(gate_attestations.c.gate_pk.in_(project_gates))
        )
        for table in (gates, decisions, notifications, project_webhooks):
            conn.execute(delete(table).where(table.c.project_pk == project_pk))
        PlanStore().purge_project(conn, project_pk)
        RegisterStore().purge_project(conn, project_pk)
