from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from monitor_world import build
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from tandem.sdk.client import Client
from tandem.server.container import Services


@dataclass
class World:
    services: Services
    sdk: Client
    api: TestClient
    model: LogisticRegression


@pytest.fixture
def world(services: Services, settings, api: TestClient) -> Iterator[World]:
    """Project churn with churn-lr@1 (trained on train@v1) serving endpoint prod; the SDK over
    the app in process, as a gateway and the CLI reach it."""
    sdk = Client(settings=settings, http=api)
    model = build(services, sdk)
    yield World(services, sdk, api, model)
