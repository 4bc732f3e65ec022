"""Production endpoints over REST with real API tokens: who may release, the gate a version
must have passed, stages that follow the traffic (through the gates), the RACI's deployment
members told of every change, the audit, and two people promoting at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from deploy_world import MODEL, register_models
from starlette.testclient import TestClient

from tandem.core.auth import Role
from tandem.governance.plan.models import RaciLetter
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.registry.models import Stage
from tandem.sdk.client import Client
from tandem.server.container import Services

BASE = "/api/v1/projects/churn"
MEMBERS = {"ds": Role.DATA_SCIENTIST, "mle": Role.ML_ENGINEER, "mle2": Role.ML_ENGINEER,
           "viewer": Role.VIEWER, "pm": Role.PRODUCT_MANAGER}  # fmt: skip


class Team:
    def __init__(self, api: TestClient, tokens: dict[str, str]) -> None:
        self.api = api
        self.tokens = tokens

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return self.api.request(method, BASE + path, headers=headers, **kwargs)


@pytest.fixture
def team(services: Services, settings: Any, api: TestClient) -> Iterator[Team]:
    """Project churn with churn-lr@1..3 (registered by the owner, embedded) and members ds,
    mle, mle2, viewer, pm, each with an API token; the RACI tells pm of deployments."""
    from tandem.server import embedded

    owner = services.owner
    with Client(settings=settings) as sdk:
        register_models(sdk)
    embedded.close_all()
    tokens = {}
    for name, role in MEMBERS.items():
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
        tokens[name] = services.identity.create_token(
            owner, TokenCreate(name="t", user=name)
        ).secret
    services.plan.set_raci_activity(
        owner, "churn", "deployment", {"mle": RaciLetter.ACCOUNTABLE, "pm": RaciLetter.INFORMED}
    )
    yield Team(api, tokens)


def stage(services: Services, version: int) -> Stage:
    return services.registry.get_version(services.owner, "churn", MODEL, str(version)).stage


def test_who_may_release_and_what(team: Team, services: Services) -> None:
    refused = team.call("ds", "POST", "/endpoints", json={"name": "prod", "production": True})
    assert refused.status_code == 403 and refused.json()["code"] == "permission-denied"
    assert "deployment:release" in refused.json()["detail"]
    assert team.call("ds", "POST", "/endpoints", json={"name": "staging"}).status_code == 201
    assert team.call("viewer", "POST", "/endpoints", json={"name": "x"}).status_code == 403
    made = team.call("mle", "POST", "/endpoints", json={"name": "prod", "production": True})
    assert made.status_code == 201 and made.json()["production"] is True

    # a draft version: refused, naming the gate to open
    draft = team.call("mle", "POST", "/endpoints/prod/deploy",
                      json={"model": MODEL, "version": "1"})  # fmt: skip
    assert draft.status_code == 409 and draft.json()["code"] == "conflict"
    assert "tandem gate open churn-lr@1 --to ready-for-review -p churn" in draft.json()["detail"]
    # non-production endpoints take any registered version, from a data scientist too
    staged = team.call("ds", "POST", "/endpoints/staging/deploy",
                       json={"model": MODEL, "version": "1"})  # fmt: skip
    assert staged.status_code == 200
    assert stage(services, 1) is Stage.DRAFT  # staging moves no stage

    for version in (1, 2):
        services.registry.set_stage(services.owner, "churn", MODEL, str(version),
                                    Stage.READY_FOR_PRODUCTION)  # fmt: skip
    body = {"model": MODEL, "version": "1"}
    assert team.call("ds", "POST", "/endpoints/prod/deploy", json=body).status_code == 403
    released = team.call("mle", "POST", "/endpoints/prod/deploy", json=body)
    assert released.status_code == 200, released.text
    assert stage(services, 1) is Stage.PRODUCTION

    # viewers read everything, change nothing, and cannot report as a gateway
    assert team.call("viewer", "GET", "/endpoints/prod").status_code == 200
    policy = team.call("viewer", "GET", "/endpoints/prod/policy")
    assert (
        policy.status_code == 200
        and policy.headers["etag"] == f'"{released.json()["policy_version"]}"'
    )
    again = team.call("viewer", "GET", "/endpoints/prod/policy",
                      headers={"if-none-match": policy.headers["etag"]})  # fmt: skip
    assert again.status_code == 304 and again.content == b""
    stats = {"gateway": "g", "policy_version": 1, "windows": []}
    assert team.call("viewer", "POST", "/endpoints/prod/stats", json=stats).status_code == 403
    assert team.call("ds", "POST", "/endpoints/prod/stats", json=stats).status_code == 200
    assert team.call("ds", "POST", "/endpoints/prod/rollback", json={}).status_code == 403
    assert team.call("ds", "PATCH", "/endpoints/prod", json={"sampling": 0.5}).status_code == 403
    assert team.call("ds", "DELETE", "/endpoints/prod").status_code == 403


def test_stages_follow_the_traffic_and_the_raci_hears(team: Team, services: Services) -> None:
    for version in (1, 2):
        services.registry.set_stage(services.owner, "churn", MODEL, str(version),
                                    Stage.READY_FOR_PRODUCTION)  # fmt: skip
    team.call("mle", "POST", "/endpoints", json={"name": "prod", "production": True})
    team.call("mle", "POST", "/endpoints/prod/deploy", json={"model": MODEL, "version": "1"})
    canary = team.call("mle", "POST", "/endpoints/prod/deploy", json={
        "model": MODEL, "version": "2", "strategy": "canary", "steps": [10, 100],
        "message": "better recall"})  # fmt: skip
    assert canary.status_code == 200
    assert (stage(services, 1), stage(services, 2)) == (Stage.PRODUCTION,
                                                        Stage.READY_FOR_PRODUCTION)  # fmt: skip
    promoted = team.call("mle2", "POST", "/endpoints/prod/promote", json={"message": "ok"})
    assert promoted.status_code == 200
    assert (stage(services, 1), stage(services, 2)) == (Stage.READY_FOR_PRODUCTION,
                                                        Stage.PRODUCTION)  # fmt: skip
    model = services.registry.get_model(services.owner, "churn", MODEL)
    assert model.aliases.get("rollback") == 1
    event = team.call("viewer", "GET", "/endpoints/prod/history", params={"limit": 1}).json()
    (last,) = event["items"]
    assert last["kind"] == "promoted" and last["actor"] == "mle2"
    assert any("churn-lr@2" in line and "production" in line for line in last["evidence"]["stages"])

    back = team.call("mle", "POST", "/endpoints/prod/rollback", json={"message": "p99 doubled"})
    assert back.status_code == 200
    assert (stage(services, 1), stage(services, 2)) == (Stage.PRODUCTION,
                                                        Stage.READY_FOR_PRODUCTION)  # fmt: skip

    pm = services.identity.principal_for_token(team.tokens["pm"], "test")
    told = [n.message for n in services.notifier.mine(pm)]
    assert any("rolled-back by mle" in m and "p99 doubled" in m for m in told)
    assert any("promoted by mle2" in m for m in told)
    mle = services.identity.principal_for_token(team.tokens["mle"], "test")
    assert not any(
        "rolled-back by mle " in m for m in (n.message for n in services.notifier.mine(mle))
    )
    actions = [
        e.action for e in services.audit.list(services.owner, project="churn", limit=1000).items
    ]
    assert {"deployment.deployed", "deployment.promoted", "deployment.rolled-back",
            "model.release", "model.rollback"} <= set(actions)  # fmt: skip


def test_two_promotes_at_once_one_wins(team: Team, serve: Any, app: Any) -> None:
    """Two engineers press promote at the same moment, against a real server: one promotes,
    the other is told who did."""
    import httpx

    team.call("mle", "POST", "/endpoints", json={"name": "staging"})
    team.call("mle", "POST", "/endpoints/staging/deploy", json={"model": MODEL, "version": "1"})
    team.call("mle", "POST", "/endpoints/staging/deploy",
              json={"model": MODEL, "version": "2", "strategy": "blue-green"})  # fmt: skip
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(2)
    with serve(app) as url:

        def press(who: str) -> None:
            with httpx.Client(base_url=url) as http:
                start.wait()
                answers[who] = http.post(
                    BASE + "/endpoints/staging/promote", json={"message": who},
                    headers={"authorization": f"Bearer {team.tokens[who]}"},
                )  # fmt: skip

        threads = [threading.Thread(target=press, args=(who,)) for who in ("mle", "mle2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    statuses = sorted(r.status_code for r in answers.values())
    assert statuses == [200, 409], {k: v.text for k, v in answers.items()}
    winner = next(who for who, r in answers.items() if r.status_code == 200)
    loser = answers["mle" if winner == "mle2" else "mle2"].json()
    assert loser["code"] == "conflict" and f"promoted by {winner}" in loser["detail"]
    history = team.call("viewer", "GET", "/endpoints/staging/history").json()["items"]
    assert [e["kind"] for e in history].count("promoted") == 1
