"""A small workspace for the API-contract tests: project `churn` with one run and one decision,
and a workspace admin who calls with an API token (so the server is not in open mode)."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.auth import Role
from tandem.governance.decisions.models import DecisionCreate
from tandem.identity.models import TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services
from tandem.tracking.models import RunCreate

PROJECT = "churn"
ADMIN = "contract-admin"


@dataclass
class ContractWorld:
    token: str
    run_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def build_contract_world(services: Services) -> ContractWorld:
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name=PROJECT))
    run = services.tracking.create_run(owner, PROJECT, RunCreate(name="baseline"))
    services.decisions.create_decision(
        owner, PROJECT, DecisionCreate(title="ship gbm", context="c", decision="d")
    )
    services.identity.create_user(owner, UserCreate(name=ADMIN, role=Role.ADMIN))
    token = services.identity.create_token(owner, TokenCreate(name="fuzz", user=ADMIN)).secret
    return ContractWorld(token=token, run_id=run.id)
