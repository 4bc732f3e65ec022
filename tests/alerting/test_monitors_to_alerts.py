"""End to end, with no seam: a real endpoint's logged traffic drifts, the monitoring domain
evaluates the window (`evaluate_due`), and the alerting service reads its result through the
container's `monitor_feed` (`results_since`), fires a page to the RACI's responsible, posts it
to a webhook on loopback, and resolves it when a calm window follows (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from tandem.alerting.models import AlertSettingsUpdate
from tandem.core.auth import Principal, Role
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.plan.models import RaciLetter, RaciSet
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.monitoring.models import MonitorSpec, SignalKind
from tandem.sdk.client import Client
from tandem.server.container import Services

WORKER = Principal.system("worker")


def _monitor_world() -> ModuleType:
    """The monitoring tests' world (a project, a model trained on a profiled dataset, deployed,
    and traffic logged as a gateway logs it), loaded from its file: test folders with their own
    conftest cannot import each other's modules by name."""
    path = Path(__file__).resolve().parents[1] / "monitoring" / "monitor_world.py"
    spec = importlib.util.spec_from_file_location("monitor_world_for_alerting", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mw = _monitor_world()


@pytest.fixture
def endpoint(services: Services, settings: Any, api: TestClient) -> Iterator[tuple[Client, Any]]:
    sdk = Client(settings=settings, http=api)
    model = mw.build(services, sdk)
    owner = services.owner
    for name, role in (("alice", Role.ML_ENGINEER), ("carol", Role.PRODUCT_MANAGER)):
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, mw.PROJECT, MemberSet(user=name, role=role))
    services.plan.set_raci(
        owner,
        mw.PROJECT,
        RaciSet(
            activities={
                "incident-response": {
                    "alice": RaciLetter.RESPONSIBLE,
                    "carol": RaciLetter.ACCOUNTABLE,
                }
            }
        ),
    )
    services.alerts.set_settings(owner, mw.PROJECT, AlertSettingsUpdate(group_wait="0s"))
    # with users, the app wants a token: the gateway ships its log as a workspace admin
    services.identity.create_user(owner, UserCreate(name="ops", role=Role.ADMIN))
    secret = services.identity.create_token(owner, TokenCreate(name="gw", user="ops")).secret
    api.headers["authorization"] = f"Bearer {secret}"
    yield sdk, model


def test_a_drifting_window_pages_the_responsible_and_a_calm_one_resolves_it(
    services: Services, endpoint: tuple[Client, Any], receiver
) -> None:
    sdk, model = endpoint
    owner, hour, h0 = services.owner, mw.HOUR, mw.H0
    services.notifier.set_webhook(owner, mw.PROJECT, WebhookSet(url=receiver.url))
    services.monitoring.create(
        owner,
        mw.PROJECT,
        MonitorSpec.model_validate({
            "name": "drift", "endpoint": "prod", "kind": SignalKind.FEATURE_DRIFT,
            "severity": "page", "runbook": "https://wiki.example.com/runbooks/drift",
            "labels": {"team": "churn"}, "annotations": {"summary": "inputs drifted"},
        }),
    )  # fmt: skip
    mw.ship_window(sdk, model, h0, 400, seed=11)
    mw.ship_window(sdk, model, h0 + hour, 400, seed=12, shift={"tenure": 25})
    now = h0 + 2 * hour + 120_000
    services.monitoring.evaluate_due(WORKER, now=now, worker="w-1")

    summary = services.alerts.tick(WORKER, now=now)
    assert summary.results >= 2 and (summary.new_firing, summary.firing) == (1, 1)
    [alert] = services.alerts.list_alerts(owner, mw.PROJECT)
    assert alert.labels == {
        "alertname": "drift", "endpoint": "prod", "severity": "page", "team": "churn",
    }  # fmt: skip
    assert alert.starts_at == h0 + 2 * hour  # the drifted window's end
    assert alert.recipients == ["alice"]
    assert alert.annotations["summary"] == "inputs drifted"
    assert alert.annotations["condition"] == "drifted_share >= 0.25"
    assert alert.annotations["version"] == "churn-lr@1"
    assert services.alerts.tick(WORKER, now=now).results == 0  # each result is read once
    services.alerts.deliver_due(WORKER, now=now)
    [post] = receiver.bodies()
    assert post["text"].startswith("[FIRING:1] churn: alertname=drift, endpoint=prod → @alice")
    assert "https://wiki.example.com/runbooks/drift" in post["text"]

    # the next window is calm: the alert resolves and the webhook hears of it
    mw.ship_window(sdk, model, h0 + 2 * hour, 400, seed=13)
    later = h0 + 3 * hour + 120_000
    services.monitoring.evaluate_due(WORKER, now=later, worker="w-1")
    assert services.alerts.tick(WORKER, now=later).resolved == 1
    services.alerts.deliver_due(WORKER, now=later)
    assert receiver.bodies()[-1]["text"].startswith("[RESOLVED:1] churn")
    done = services.alerts.get_alert(owner, mw.PROJECT, alert.id)
    assert (done.state.value, done.ends_at) == ("resolved", h0 + 3 * hour)
