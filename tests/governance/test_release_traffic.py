"""Stages follow production traffic, through the real DeploymentService and GateService as the
container wires them: a production endpoint refuses a version that has not passed its gate,
a completed release and a rollback move the stages, and the gate item "rollback target" holds
when another version of the model serves a production endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from governance_world import Team
from sklearn.linear_model import LogisticRegression

from tandem.core.config import Settings
from tandem.deployments.models import DeployRequest, EndpointCreate, TrafficChange
from tandem.errors import Conflict
from tandem.governance.decisions.models import DecisionCreate
from tandem.governance.gates.models import GateOpen
from tandem.governance.plan.models import RaciSet
from tandem.registry.models import Stage
from tandem.sdk.client import Client


@pytest.fixture
def churn(team: Team, settings: Settings) -> Iterator[Team]:
    """`team`'s project churn with churn-lr@1..3 (draft), production endpoints prod and eu, and
    a RACI whose release approval is pm's."""
    from tandem.server import embedded

    client = Client(settings=settings)
    rng = np.random.default_rng(5)
    features = rng.normal(size=(80, 1))
    for c in (1.0, 0.1, 0.01):
        with client.start_run(project="churn") as run:
            model = LogisticRegression(C=c).fit(features, features[:, 0] > 0)
            run.log_model(model, "churn-lr", example=features[:3])
    services, mle = team.services, team.principals["mle"]
    for name in ("prod", "eu"):
        services.deployments.create_endpoint(
            mle, "churn", EndpointCreate(name=name, production=True)
        )
    raci = {"release-approval": {"pm": "A"}, "monitoring": {"mle": "A"}}
    services.plan.set_raci(services.owner, "churn", RaciSet.model_validate({"activities": raci}))
    yield team
    client.close()
    embedded.close_all()


def stage(team: Team, version: int) -> Stage:
    return team.services.registry.get_version(
        team.services.owner, "churn", "churn-lr", str(version)
    ).stage


def set_stage(team: Team, version: int, to: Stage) -> None:
    team.services.registry.set_stage(team.services.owner, "churn", "churn-lr", str(version), to)


def deploy(team: Team, endpoint: str, version: int) -> Any:
    return team.services.deployments.deploy(
        team.principals["mle"], "churn", endpoint,
        DeployRequest(model="churn-lr", version=str(version), message=f"v{version}"),
    )  # fmt: skip


def rollback_item(team: Team, version: int) -> tuple[bool, str]:
    """The rollback-target item of the version's next release gate (a dry run)."""
    after = {Stage.READY_FOR_REVIEW: Stage.READY_FOR_PRODUCTION}.get(
        stage(team, version), Stage.PRODUCTION
    )
    gate = team.services.gates.check(team.principals["mle"], "churn", f"churn-lr@{version}", after)
    item = next(i for i in gate.checklist if i.key == "rollback-target")
    return item.holds, item.detail


def test_a_production_endpoint_refuses_a_version_that_has_not_passed_its_gate(
    churn: Team,
) -> None:
    with pytest.raises(Conflict) as refused:
        deploy(churn, "prod", 1)
    assert refused.value.status == 409
    assert "churn-lr@1 is draft" in str(refused.value)
    assert "`tandem gate open churn-lr@1 --to ready-for-review -p churn`" in str(refused.value)
    endpoint = churn.services.deployments.get_endpoint(churn.principals["mle"], "churn", "prod")
    assert endpoint.deployments == [] and endpoint.policy_version == 1


def test_releases_and_rollbacks_move_the_stages_with_the_traffic(churn: Team) -> None:
    services, owner = churn.services, churn.services.owner
    set_stage(churn, 1, Stage.READY_FOR_PRODUCTION)
    set_stage(churn, 2, Stage.READY_FOR_PRODUCTION)
    assert rollback_item(churn, 2) == (
        False,
        "no other version of churn-lr serves a production endpoint; for a first release, "
        "link an accepted decision record to this version",
    )

    deploy(churn, "prod", 1)  # the first release
    assert stage(churn, 1) is Stage.PRODUCTION
    assert rollback_item(churn, 2) == (
        True,
        "version 1 serves production: it is the rollback target",
    )

    deploy(churn, "prod", 2)  # replaces 1
    assert (stage(churn, 2), stage(churn, 1)) == (Stage.PRODUCTION, Stage.READY_FOR_PRODUCTION)
    assert services.registry.get_version(owner, "churn", "churn-lr", "rollback").version == 1
    (release,) = services.audit.list(owner, project="churn", action="model.release").items[:1]
    assert release.target == "churn/churn-lr@2" and release.details["replaced"] == "churn-lr@1"
    assert release.details["evidence"]["rollout"].startswith("r-")

    services.deployments.rollback(
        churn.principals["mle"], "churn", "prod", TrafficChange(message="p99 up")
    )
    assert (stage(churn, 1), stage(churn, 2)) == (Stage.PRODUCTION, Stage.READY_FOR_PRODUCTION)
    assert "rollback" not in services.registry.get_version(owner, "churn", "churn-lr", "1").aliases
    (event,) = services.audit.list(owner, project="churn", action="model.rollback").items
    assert event.details["restored"] == "churn-lr@1" and event.details["endpoint"] == "prod"


def test_a_version_another_production_endpoint_serves_stays_in_production(churn: Team) -> None:
    for version in (1, 2):
        set_stage(churn, version, Stage.READY_FOR_PRODUCTION)
    deploy(churn, "prod", 1)
    deploy(churn, "eu", 1)
    deploy(churn, "prod", 2)  # eu still serves 1
    assert (stage(churn, 1), stage(churn, 2)) == (Stage.PRODUCTION, Stage.PRODUCTION)
    (release,) = churn.services.audit.list(
        churn.services.owner, project="churn", action="model.release"
    ).items[:1]
    assert "churn-lr@1 stays production (another endpoint serves it)" in release.details["changes"]


def test_a_first_release_needs_an_accepted_decision_as_its_rollback_plan(churn: Team) -> None:
    set_stage(churn, 1, Stage.READY_FOR_REVIEW)
    to_release = GateOpen(model="churn-lr@1", to=Stage.READY_FOR_PRODUCTION)
    gate = churn.services.gates.open(churn.principals["mle"], "churn", to_release)
    assert not next(i for i in gate.checklist if i.key == "rollback-target").holds
    churn.services.decisions.create_decision(
        churn.principals["pm"], "churn",
        DecisionCreate(title="First release of churn-lr", decision="Switch the call list off",
                       links=["models/churn-lr@1"], accept=True),
    )  # fmt: skip
    holds, detail = rollback_item(churn, 1)
    assert holds and detail.startswith("a first release, accepted in decision ")
