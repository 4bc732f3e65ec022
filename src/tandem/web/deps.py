"""The services the pages use. The pages are a face over every domain, so they take the services
together: as `Services`, the part of the server's container they read (which the container
satisfies), so that `tandem.web` needs nothing from `tandem.server`, which mounts it."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from tandem.alerting.service import AlertService
from tandem.audit.service import AuditLog
from tandem.core.auth import Authorizer
from tandem.data.service import DataService
from tandem.deployments.service import DeploymentService
from tandem.evaluation.service import EvaluationService
from tandem.governance.decisions.service import DecisionService
from tandem.governance.gates.service import GateService
from tandem.governance.notifications.service import Notifier
from tandem.governance.plan.service import PlanService
from tandem.governance.registers.service import RegisterService
from tandem.identity.oidc import OidcClient
from tandem.identity.service import IdentityService
from tandem.incidents.service import IncidentService
from tandem.lineage.service import LineageService
from tandem.monitoring.service import MonitoringService
from tandem.outcomes.service import OutcomeService
from tandem.projects.service import ProjectService
from tandem.registry.cards import CardService
from tandem.registry.service import RegistryService
from tandem.tracking.service import TrackingService


class Services(Protocol):
    """The services the pages call (the server's `Services` container is one)."""

    @property
    def auth(self) -> Authorizer: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def identity(self) -> IdentityService: ...
    @property
    def oidc(self) -> OidcClient | None: ...
    @property
    def projects(self) -> ProjectService: ...
    @property
    def tracking(self) -> TrackingService: ...
    @property
    def data(self) -> DataService: ...
    @property
    def registry(self) -> RegistryService: ...
    @property
    def evaluations(self) -> EvaluationService: ...
    @property
    def cards(self) -> CardService: ...
    @property
    def lineage(self) -> LineageService: ...
    @property
    def plan(self) -> PlanService: ...
    @property
    def gates(self) -> GateService: ...
    @property
    def decisions(self) -> DecisionService: ...
    @property
    def registers(self) -> RegisterService: ...
    @property
    def notifier(self) -> Notifier: ...
    @property
    def deployments(self) -> DeploymentService: ...
    @property
    def monitoring(self) -> MonitoringService: ...
    @property
    def outcomes(self) -> OutcomeService: ...
    @property
    def alerts(self) -> AlertService: ...
    @property
    def incidents(self) -> IncidentService: ...


async def get_services(request: Request) -> Services:
    """The services the app serves (the server sets them on `app.state`)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
