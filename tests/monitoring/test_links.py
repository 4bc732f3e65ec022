"""Monitoring linked into the rest of the house: a release gives the endpoint its default
monitors (owned by the RACI's accountable for monitoring), project.yaml declares monitors
(`monitors:`, a plug-in section of the plan), and the gate item "monitoring plan" holds only
when the production endpoints serving the model are watched for drift, performance and SLO."""

from __future__ import annotations

import pytest
from monitor_world import COLUMNS, MODEL, PROJECT, population

from tandem.core.auth import Role
from tandem.deployments.models import DeployRequest, EndpointCreate
from tandem.errors import InvalidInput
from tandem.governance.plan.models import RaciSet
from tandem.governance.plan.spec import ProjectSpec
from tandem.identity.models import MemberSet, UserCreate
from tandem.registry.models import Stage


def kinds(world, endpoint: str) -> dict[str, tuple[str | None, str]]:
    return {
        m.kind.value: (m.owner, m.source)
        for m in world.services.monitoring.list_monitors(world.services.owner, PROJECT)
        if m.endpoint == endpoint
    }


def test_a_release_gives_a_production_endpoint_its_default_monitors_once(world) -> None:
    services, owner = world.services, world.services.owner
    assert kinds(world, "prod") == {}  # (the world's deletes them) a staging endpoint: none
    services.deployments.create_endpoint(owner, PROJECT, EndpointCreate(name="staging"))
    services.deployments.deploy(owner, PROJECT, "staging", DeployRequest(model=MODEL, version="1"))
    assert kinds(world, "staging") == {}
    services.registry.set_stage(owner, PROJECT, MODEL, "1", Stage.READY_FOR_PRODUCTION)
    services.deployments.create_endpoint(owner, PROJECT, EndpointCreate(name="live",
                                                                      production=True))  # fmt: skip
    services.deployments.deploy(owner, PROJECT, "live", DeployRequest(model=MODEL, version="1"))
    made = kinds(world, "live")
    assert set(made) == {"feature-drift", "prediction-drift", "contract",
                         "estimated-performance", "slo"}  # fmt: skip
    assert {source for _, source in made.values()} == {"default"}
    slo = services.monitoring.get(owner, PROJECT, "live-error-rate")
    assert slo.severity == "page" and slo.params == {"objective": "error-rate", "target": 0.99}
    with services.db.write() as conn:  # a second release adds nothing
        project_pk = services.projects.pk_in(conn, PROJECT)
        services.monitoring.on_deploy(conn, owner, PROJECT, project_pk, endpoint="live",
                                      production=True, model=MODEL, version=1)  # fmt: skip
    assert len(kinds(world, "live")) == 5
    actions = services.audit.list(owner, project=PROJECT, action="monitor.create").items
    assert sum(e.details.get("source") == "default" for e in actions) >= 5


def test_project_yaml_declares_monitors(world) -> None:
    services, owner = world.services, world.services.owner
    plan = services.plan
    declared = [
        {"name": "drift", "endpoint": "prod", "kind": "feature-drift", "window": "1h",
         "params": {"columns": COLUMNS}, "severity": "page", "owner": "mle"},
        {"name": "contract", "endpoint": "prod", "kind": "contract", "for": "2h"},
    ]  # fmt: skip
    dry = plan.plan(owner, PROJECT, ProjectSpec(monitors=declared))
    assert [(c.section, c.action.value, c.key) for c in dry.changes] == [
        ("monitors", "create", "drift"), ("monitors", "create", "contract")
    ]  # fmt: skip
    assert services.monitoring.list_monitors(owner, PROJECT) == []
    applied = plan.apply(owner, PROJECT, ProjectSpec(monitors=declared))
    assert applied.applied
    assert {m.name: m.source for m in services.monitoring.list_monitors(owner, PROJECT)} == {
        "contract": "project", "drift": "project"
    }  # fmt: skip
    services.monitoring.create(owner, PROJECT, services.monitoring.get(owner, PROJECT, "drift")
                               .model_copy(update={"name": "mine"}))  # fmt: skip
    exported = plan.export(owner, PROJECT).monitors
    assert [m["name"] for m in exported or []] == ["contract", "drift"]
    assert exported is not None and exported[0]["for"] == "2h"

    changed = [{**declared[0], "condition": "drifted_count >= 2"}]
    again = plan.apply(owner, PROJECT, ProjectSpec(monitors=changed))
    assert [(c.action.value, c.key) for c in again.changes] == [
        ("update", "drift"), ("delete", "contract")
    ]  # fmt: skip
    names = {m.name for m in services.monitoring.list_monitors(owner, PROJECT)}
    assert names == {"drift", "mine"}  # the one made by hand stays
    assert services.monitoring.get(owner, PROJECT, "drift").condition == "drifted_count >= 2"

    for bad, words in [
        ([{**declared[0], "params": {"columns": ["income"]}}], "monitors[0] (drift)"),
        ([{"name": "x", "endpoint": "prod"}], "monitors[0] (x): kind"),
        ([declared[1], declared[1]], "a name appears twice"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            plan.apply(owner, PROJECT, ProjectSpec(monitors=bad))
        assert words in str(refused.value)
    assert {m.name for m in services.monitoring.list_monitors(owner, PROJECT)} == names


def test_the_gate_item_monitoring_plan_reads_the_monitors(world) -> None:
    services, owner = world.services, world.services.owner
    with world.sdk.start_run(project=PROJECT) as run:  # churn-lr@2, the next release
        frame = population(50, seed=3)
        run.log_model(world.model, MODEL, example=frame[COLUMNS].head(3))
    # (a user from here on: the open workspace then asks the SDK to sign in)
    services.identity.create_user(owner, UserCreate(name="mle", role=Role.VIEWER))
    services.identity.set_member(owner, PROJECT, MemberSet(user="mle", role=Role.ML_ENGINEER))
    services.plan.set_raci(
        owner, PROJECT, RaciSet.model_validate({"activities": {"monitoring": {"mle": "A"}}})
    )
    services.registry.set_stage(owner, PROJECT, MODEL, "1", Stage.READY_FOR_PRODUCTION)
    services.registry.set_stage(owner, PROJECT, MODEL, "2", Stage.READY_FOR_REVIEW)

    def item() -> tuple[bool, str]:
        gate = services.gates.check(owner, PROJECT, f"{MODEL}@2", Stage.READY_FOR_PRODUCTION)
        found = next(i for i in gate.checklist if i.key == "monitoring-plan")
        return found.holds, found.detail

    assert item() == (True, "mle is accountable for monitoring")  # a first release
    services.deployments.create_endpoint(owner, PROJECT, EndpointCreate(name="live",
                                                                      production=True))  # fmt: skip
    services.deployments.deploy(owner, PROJECT, "live", DeployRequest(model=MODEL, version="1"))
    assert {o for o, _ in kinds(world, "live").values()} == {"mle"}
    holds, detail = item()
    assert holds and "live watched for drift, performance and SLO" in detail
    services.monitoring.delete(owner, PROJECT, "live-error-rate")
    assert item() == (False, "monitors missing on production endpoints: live: no slo monitor")


def test_performance_from_late_labels_is_evaluated_again_once(world) -> None:
    """A performance monitor reads the outcomes domain's realised figures; labels that arrive
    after a window was judged make it due again, and two evaluators evaluate it once."""
    import threading

    import pyarrow as pa
    from monitor_world import H0, HOUR, ship_window

    from tandem.core.auth import Principal
    from tandem.monitoring.models import MonitorSpec

    worker = Principal.system("worker")
    monitoring, owner = world.services.monitoring, world.services.owner
    ship_window(world.sdk, world.model, H0, 200, seed=40)
    monitoring.create(owner, PROJECT, MonitorSpec.model_validate(
        {"name": "auc", "endpoint": "prod", "kind": "performance", "condition": "accuracy < 0.9",
         "params": {"metric": "accuracy"}}))  # fmt: skip
    monitoring.lookback_windows = 2
    now = H0 + HOUR + 60_000
    first = monitoring.evaluate_due(worker, now=now, worker="w-1")
    assert {r.window_start: r.breached for r in first.results} == {H0: None}

    meta = world.services.predictions.read_log(owner, PROJECT, "prod", H0, H0 + HOUR).meta
    wrong = [1 - int(p) if i % 4 == 0 else int(p) for i, p in enumerate(meta["prediction"])]
    labels = pa.table({"request_id": meta["request_id"].to_list(), "label": wrong})
    world.sdk.outcomes.add_labels("prod", labels, project=PROJECT)

    summaries = []

    def evaluate(name: str) -> None:
        summaries.append(monitoring.evaluate_due(worker, now=now + 60_000, worker=name))

    threads = [threading.Thread(target=evaluate, args=(f"w-{i}",)) for i in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = [r for s in summaries for r in s.results]
    assert [(r.window_start, r.breached) for r in again] == [(H0, True)]
    assert again[0].value == pytest.approx(0.75) and again[0].samples == 200
    stored = monitoring.results(owner, PROJECT, "auc", since=H0)
    assert len(stored) == 1 and stored[0].seq > max(r.seq for r in first.results)
    assert monitoring.evaluate_due(worker, now=now + 120_000, worker="w-4").evaluated == 0
