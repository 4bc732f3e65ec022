"""What every incidents operation shares: the collaborators, finding and holding an incident,
recording an entry on its timeline, and the checks of members."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.data.service import DataService
from tandem.deployments.service import DeploymentService
from tandem.errors import InvalidInput
from tandem.governance.gates.service import GateService
from tandem.governance.notifications.service import Notifier
from tandem.governance.plan.models import RaciLetter
from tandem.governance.plan.service import PlanService
from tandem.governance.registers.service import RegisterService
from tandem.identity.service import IdentityService
from tandem.incidents.models import TimelineEntry, TimelineSource
from tandem.incidents.store import IncidentStore, json_text
from tandem.lineage.service import LineageLinks
from tandem.outcomes.service import OutcomeService
from tandem.predictions.service import PredictionService
from tandem.projects.service import ProjectService
from tandem.registry.service import RegistryService
from tandem.store.db import Database

RESPONSE_ACTIVITY = "incident-response"
"""The RACI activity whose Responsible members respond to pages and whose Accountable
publishes postmortems."""
READ = Action.MONITOR_READ  # incidents and postmortems are read with the monitoring
WRITE = Action.INCIDENT_WRITE
ALERTING = Principal.system("alerting")  # who a page's changes are audited as


class IncidentCore:
    def __init__(
        self,
        db: Database,
        store: IncidentStore,
        projects: ProjectService,
        identity: IdentityService,
        plan: PlanService,
        registers: RegisterService,
        deployments: DeploymentService,
        gates: GateService,
        registry: RegistryService,
        data: DataService,
        notifier: Notifier,
        links: LineageLinks,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.identity = identity
        self.plan = plan
        self.registers = registers
        self.deployments = deployments
        self.gates = gates
        self.registry = registry
        self.data = data
        self.notifier = notifier
        self.links = links
        self.auth = auth
        self.audit = audit
        self.predictions: PredictionService | None = None
        self.outcomes: OutcomeService | None = None

    def use_figures(self, predictions: PredictionService, outcomes: OutcomeService) -> None:
        """The prediction log and the KPIs a postmortem's impact is pre-filled from (wired by
        the container)."""
        self.predictions = predictions
        self.outcomes = outcomes

    def _entry(
        self, conn: Connection, incident_pk: int, at: int, kind: str, actor: str | None,
        text: str = "", *, ref: str | None = None, source: TimelineSource = TimelineSource.INCIDENT,
        **details: Any,
    ) -> None:  # fmt: skip
        self.store.add_entry(
            conn,
            incident_pk,
            TimelineEntry(
                at=at, source=source, kind=kind, actor=actor, text=text, ref=ref, details=details
            ),
        )

    def _members(self, conn: Connection, project: str, project_pk: int, names: list[str]) -> None:
        members = self.identity.member_names_in(conn, project_pk)
        strangers = sorted(set(names) - members)
        if strangers:
            raise InvalidInput(f"{strangers[0]!r} is not a member of project {project!r}")

    def _raci(self, conn: Connection, project_pk: int, letter: RaciLetter) -> list[str]:
        """The members the RACI names with `letter` for incident response."""
        named = self.plan.raci_rows(conn, project_pk).get(RESPONSE_ACTIVITY, {})
        members = self.identity.member_names_in(conn, project_pk)
        return sorted(m for m, got in named.items() if got == letter and m in members)

    def _project_name(self, conn: Connection, project_pk: int) -> str:
        name = self.projects.live_names_in(conn).get(project_pk)
        if name is None:
            raise InvalidInput(f"project {project_pk} does not exist")
        return name


def loads(text: str) -> Any:
    return json.loads(text)


__all__ = ["ALERTING", "READ", "RESPONSE_ACTIVITY", "WRITE", "IncidentCore", "json_text", "loads"]
