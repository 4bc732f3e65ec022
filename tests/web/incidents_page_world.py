"""A workspace for the incident, alert and monitoring pages (a module of its own, imported by name
like web_world): on top of `web_world`, vision's `churn-lr` versions 1 and 2 (model_world), the
production endpoint `prod` where @2 replaced @1 (so @1 is the rollback target), a `drift`
playbook, the RACI's incident-response row (ada Accountable, pam Responsible), and two more
members: pam, a product manager, and dana, a data scientist."""

from __future__ import annotations

from pathlib import Path

from data_world import data_folder
from model_world import add_models
from web_world import PASSWORD

from tandem.core.auth import Role
from tandem.deployments.models import DeployRequest, EndpointCreate
from tandem.governance.plan.models import parse_assignments
from tandem.identity.models import MemberSet, UserCreate
from tandem.incidents.models import Incident, IncidentCreate, IncidentSeverity
from tandem.registry.models import Stage
from tandem.server.container import Services

PLAYBOOK = """# Drift on a production endpoint

- [ ] Look at the monitoring page: which features drifted, since when (commander)
- [ ] Compare with the last deployment on the endpoint's history
- [ ] Roll back if the previous version did better (ml-engineer)
"""


def add_members(services: Services) -> None:
    """pam, a product manager, and dana, a data scientist, join vision."""
    owner = services.owner
    for name, role in (("pam", Role.PRODUCT_MANAGER), ("dana", Role.DATA_SCIENTIST)):
        services.identity.create_user(owner, UserCreate(name=name, password=PASSWORD))
        services.identity.set_member(owner, "vision", MemberSet(user=name, role=role))


def add_incident_world(services: Services, tmp_path: Path) -> None:
    owner = services.owner
    add_models(services, data_folder(services, tmp_path), tmp_path)
    for version in ("1", "2"):
        services.registry.set_stage(owner, "vision", "churn-lr", version,
                                    Stage.READY_FOR_PRODUCTION)  # fmt: skip
    add_members(services)
    deployments = services.deployments
    deployments.create_endpoint(owner, "vision", EndpointCreate(name="prod", production=True))
    for version, message in (("1", "first release"), ("2", "tenure and charges")):
        request = DeployRequest(model="churn-lr", version=version, message=message)
        deployments.deploy(owner, "vision", "prod", request)
    services.plan.set_raci_activity(
        owner, "vision", "incident-response", parse_assignments(["ada=A", "pam=R"])
    )
    services.incidents.set_playbook_markdown(owner, "vision", "drift", PLAYBOOK)


def open_incident(services: Services, title: str = "Churn scores drift on new customers",
                  severity: IncidentSeverity = IncidentSeverity.SEV2) -> Incident:  # fmt: skip
    return services.incidents.open(
        services.owner,
        "vision",
        IncidentCreate(title=title, severity=severity, endpoint="prod", kind="drift",
                       summary="tenure looks shifted since this morning"),
    )  # fmt: skip
