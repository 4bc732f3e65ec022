"""Alerting fixtures: project `churn` whose RACI names alice Responsible for monitoring, bob
Responsible for incident-response and carol Accountable for both; monitor results fed to
`tick` through the service's feed seam; a webhook receiver and a fake PagerDuty Events API as
real HTTP servers on loopback (which the outbound policy is told to allow). Shared pieces:
alert_world."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from alert_world import Feed, Receiver, World

from tandem.core.auth import Principal, Role
from tandem.core.config import Settings
from tandem.governance.plan.models import RaciLetter, RaciSet
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services

PEOPLE = {
    "alice": Role.ML_ENGINEER,
    "bob": Role.DATA_SCIENTIST,
    "carol": Role.PRODUCT_MANAGER,
    "vic": Role.VIEWER,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with the receivers' loopback address allowed."""
    return replace(settings, outbound_allow_hosts=("127.0.0.1",))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def pagerduty() -> Iterator[Receiver]:
    fake = Receiver(path="/v2/enqueue", status=202)
    yield fake
    fake.close()


@pytest.fixture
def world(services: Services) -> World:
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    found = World(services, Feed(), Principal.system("worker"))
    for name, role in PEOPLE.items():
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
        secret = services.identity.create_token(owner, TokenCreate(name="t", user=name)).secret
        found.tokens[name] = secret
        found.people[name] = services.identity.principal_for_token(secret, "test")
    services.plan.set_raci(
        owner,
        "churn",
        RaciSet(
            activities={
                "monitoring": {"alice": RaciLetter.RESPONSIBLE, "carol": RaciLetter.ACCOUNTABLE},
                "incident-response": {
                    "bob": RaciLetter.RESPONSIBLE,
                    "carol": RaciLetter.ACCOUNTABLE,
                },
            }
        ),
    )
    services.alerts.use_feed(found.feed)
    services.alerts.delivery_timeout_s = 0.5
    return found
