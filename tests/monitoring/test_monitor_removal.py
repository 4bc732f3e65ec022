"""Deleting a monitor (by hand, or by leaving it out of project.yaml) resolves its alerts at
once, and the recovery reaches the project's webhook (a real receiver on loopback); the other
monitors' alerts keep firing. On SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from monitor_world import H0, HOUR, PROJECT, ship_window

from tandem.alerting.models import AlertSettingsUpdate
from tandem.core.auth import Principal
from tandem.core.config import Settings
from tandem.governance.notifications.models import WebhookSet
from tandem.monitoring.models import MonitorSpec, SignalKind

WORKER = Principal.system("worker")


def _alert_world() -> ModuleType:
    """The alerting tests' shared pieces (a receiver on loopback), loaded from their file: test
    folders with a conftest each cannot import each other's modules by name."""
    path = Path(__file__).resolve().parents[1] / "alerting" / "alert_world.py"
    spec = importlib.util.spec_from_file_location("alert_world_for_monitoring", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


aw = _alert_world()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with the receiver's loopback address allowed."""
    return replace(settings, outbound_allow_hosts=("127.0.0.1",))


@pytest.fixture
def receiver() -> Iterator[object]:
    hook = aw.Receiver()
    yield hook
    hook.close()


def drift(name: str) -> MonitorSpec:
    return MonitorSpec.model_validate(
        {"name": name, "endpoint": "prod", "kind": SignalKind.FEATURE_DRIFT, "severity": "page"}
    )


def test_deleting_a_monitor_resolves_its_alerts_and_sends_the_recovery(world, receiver) -> None:
    services, owner = world.services, world.services.owner
    services.alerts.set_settings(owner, PROJECT, AlertSettingsUpdate(group_wait="0s"))
    services.notifier.set_webhook(owner, PROJECT, WebhookSet(url=receiver.url))
    for name in ("drift", "kept"):
        services.monitoring.create(owner, PROJECT, drift(name))
    ship_window(world.sdk, world.model, H0, 400, seed=11)
    ship_window(world.sdk, world.model, H0 + HOUR, 400, seed=12, shift={"tenure": 25})
    now = H0 + 2 * HOUR + 120_000
    services.monitoring.evaluate_due(WORKER, now=now, worker="w")
    assert services.alerts.tick(WORKER, now=now).firing == 2
    services.alerts.deliver_due(WORKER, now=now)
    assert len(receiver.bodies()) == 2

    services.monitoring.delete(owner, PROJECT, "drift")

    alerts = {a.name: a for a in services.alerts.list_alerts(owner, PROJECT)}
    assert alerts["drift"].state.value == "resolved" and alerts["drift"].ends_at is not None
    assert alerts["kept"].state.value == "firing"
    assert [a.name for a in services.alerts.list_alerts(owner, PROJECT, state="open")] == ["kept"]
    services.alerts.deliver_due(WORKER)
    recovered = [b["text"] for b in receiver.bodies() if b["text"].startswith("[RESOLVED")]
    assert len(recovered) == 1 and "alertname=drift" in recovered[0]
    # later ticks neither bring the deleted monitor's alert back nor touch the other one
    services.alerts.tick(WORKER)
    services.alerts.deliver_due(WORKER)
    open_now = services.alerts.list_alerts(owner, PROJECT, state="open")
    assert [a.name for a in open_now] == ["kept"]
    assert len([b for b in receiver.bodies() if b["text"].startswith("[RESOLVED")]) == 1
    page = services.audit.list(owner, project=PROJECT, limit=1000)
    assert "alert.resolve" in [e.action for e in page.items]


def test_a_monitor_left_out_of_project_yaml_resolves_its_alerts(world) -> None:
    services, owner = world.services, world.services.owner
    section = [{"name": "drift", "endpoint": "prod", "kind": "feature-drift", "severity": "page"}]
    ship_window(world.sdk, world.model, H0, 400, seed=11)
    ship_window(world.sdk, world.model, H0 + HOUR, 400, seed=12, shift={"tenure": 25})
    with services.db.write() as conn:
        project_pk = services.projects.pk_in(conn, PROJECT)
        checked = services.monitoring.check_section(owner, PROJECT, section)
        services.monitoring.write_section(conn, owner, PROJECT, project_pk, checked)
    now = H0 + 2 * HOUR + 120_000
    services.monitoring.evaluate_due(WORKER, now=now, worker="w")
    assert services.alerts.tick(WORKER, now=now).firing == 1

    with services.db.write() as conn:
        services.monitoring.write_section(conn, owner, PROJECT, project_pk, [])

    assert services.monitoring.list_monitors(owner, PROJECT) == []
    [alert] = services.alerts.list_alerts(owner, PROJECT)
    assert alert.state.value == "resolved"
