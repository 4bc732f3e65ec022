"""Incidents fixtures: project churn with a member in each role, and endpoint `staging`
served by churn-lr@2 after churn-lr@1 (so it has something to roll back to)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from incident_world import MODEL, ROLES, Team, register_models

from tandem.core.auth import Role
from tandem.governance.plan.models import RaciSet
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services


@pytest.fixture
def team(services: Services) -> Team:
    """Project churn with users pm, ds, mle, comp and viewer as members; the RACI makes pm
    Accountable and mle Responsible for incident-response."""
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    found = Team(services)
    for name, role in ROLES.items():
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
        secret = services.identity.create_token(owner, TokenCreate(name="t", user=name)).secret
        found.tokens[name] = secret
        found.principals[name] = services.identity.principal_for_token(secret, "test")
    services.plan.set_raci(
        owner, "churn", RaciSet(activities={"incident-response": {"pm": "A", "mle": "R"}})
    )
    return found


@pytest.fixture
def serving(team: Team, settings: object, tmp_path: Path) -> Iterator[Team]:
    """`team` with endpoint `staging` serving churn-lr@2, which replaced churn-lr@1; both
    trained on dataset sample@v1."""
    from tandem.server import embedded

    client = Client(settings=settings)  # type: ignore[arg-type]
    register_models(client, data=tmp_path / "data")
    client.deployments.create("staging", project="churn")
    client.deployments.deploy("staging", f"{MODEL}@1", "churn")
    client.deployments.deploy("staging", f"{MODEL}@2", "churn")
    yield team
    client.close()
    embedded.close_all()
