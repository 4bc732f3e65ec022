"""Monitors over a real endpoint's logged traffic: feature drift against the training data's
stored profile, prediction drift, the contract on live inputs; one result per window, claimed
so that two evaluators never evaluate a window twice; bad input refused with nothing written.
On SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from monitor_world import COLUMNS, H0, HOUR, PROJECT, ship_window

from tandem.core.auth import Principal
from tandem.errors import AlreadyExists, InvalidInput, NotFound
from tandem.monitoring.models import MonitorSpec, MonitorUpdate, SignalKind

WORKER = Principal.system("worker")


def spec(name: str, kind: SignalKind, **fields) -> MonitorSpec:
    return MonitorSpec.model_validate({"name": name, "endpoint": "prod", "kind": kind, **fields})


def audit_actions(world) -> list[str]:
    """The audit log's actions, oldest first."""
    page = world.services.audit.list(world.services.owner, project=PROJECT, limit=10_000)
    return [e.action for e in reversed(page.items)]


def test_feature_drift_finds_the_shifted_column_and_only_it(world) -> None:
    ship_window(world.sdk, world.model, H0, 400, seed=11)
    ship_window(world.sdk, world.model, H0 + HOUR, 400, seed=12, shift={"tenure": 25})
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("drift", SignalKind.FEATURE_DRIFT))

    summary = monitoring.evaluate_due(WORKER, now=H0 + 2 * HOUR + 120_000, worker="w-1")

    by_window = {r.window_start: r for r in summary.results}
    calm, shifted = by_window[H0], by_window[H0 + HOUR]
    assert calm.breached is False and calm.details["drifted_columns"] == []
    assert shifted.breached is True and shifted.details["drifted_columns"] == ["tenure"]
    assert shifted.value == pytest.approx(1 / 3)
    assert shifted.version == "churn-lr@1" and shifted.samples == 400
    assert shifted.details["reference"] == "train@v1"
    assert set(shifted.details["columns"]) == set(COLUMNS)
    assert shifted.evaluated_by == "w-1" and shifted.evaluated_at == H0 + 2 * HOUR + 120_000
    # the new monitor starts at the endpoint's first traffic: no empty windows before it
    assert sorted(by_window) == [H0, H0 + HOUR]
    again = monitoring.evaluate_due(WORKER, now=H0 + 2 * HOUR + 180_000, worker="w-1")
    assert again.evaluated == 0
    stored = monitoring.results(owner, PROJECT, "drift", since=H0)
    assert [r.window_start for r in stored] == [H0 + HOUR, H0]
    assert stored[0].seq > stored[1].seq > 0


def test_columns_named_by_the_monitor_and_a_column_the_model_lacks(world) -> None:
    monitoring, owner = world.services.monitoring, world.services.owner
    with pytest.raises(InvalidInput, match=r"churn-lr@1 has no column 'income'"):
        monitoring.create(
            owner, PROJECT,
            spec("bad", SignalKind.FEATURE_DRIFT, params={"columns": ["tenure", "income"]}),
        )  # fmt: skip
    assert monitoring.list_monitors(owner, PROJECT) == []
    monitoring.create(
        owner, PROJECT,
        spec("charges", SignalKind.FEATURE_DRIFT, params={"columns": ["charges"],
             "method": "psi"}, condition="drifted_count >= 1"),
    )  # fmt: skip
    ship_window(world.sdk, world.model, H0, 400, seed=3, shift={"tenure": 30})
    summary = monitoring.check(owner, PROJECT, "charges", now=H0 + HOUR + 90_000)
    result = next(r for r in summary.results if r.window_start == H0)
    assert result.breached is False and list(result.details["columns"]) == ["charges"]
    assert result.details["columns"]["charges"]["statistic"] == "psi"


def test_contract_violations_per_check_on_live_inputs(world) -> None:
    ship_window(world.sdk, world.model, H0, 200, seed=4)
    ship_window(
        world.sdk, world.model, H0 + HOUR, 200, seed=5,
        override={"charges": [-5.0, -1.0, -2.0], "age": [7.0]},
    )  # fmt: skip
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("contract", SignalKind.CONTRACT))
    summary = monitoring.check(owner, PROJECT, now=H0 + 2 * HOUR + 60_000)
    by_window = {r.window_start: r for r in summary.results}
    assert by_window[H0].breached is False and by_window[H0].value == 0
    bad = by_window[H0 + HOUR]
    assert bad.breached is True and bad.value == 2
    failed = {f["column"]: f for f in bad.details["failed"]}
    assert set(failed) == {"charges", "age"}
    assert failed["charges"]["observed"] == 3 and failed["age"]["observed"] == 1
    assert bad.details["checks"] >= 3


def test_prediction_drift_against_the_first_window(world) -> None:
    ship_window(world.sdk, world.model, H0, 400, seed=6)
    ship_window(world.sdk, world.model, H0 + HOUR, 400, seed=7)
    ship_window(world.sdk, world.model, H0 + 2 * HOUR, 400, seed=8, shift={"tenure": -30})
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(
        owner, PROJECT,
        spec("scores", SignalKind.PREDICTION_DRIFT, condition="positive_rate_delta >= 0.2"),
    )  # fmt: skip
    summary = monitoring.evaluate_due(WORKER, now=H0 + 3 * HOUR + 60_000, worker="w")
    by_window = {r.window_start: r for r in summary.results}
    assert by_window[H0].details["baseline"].startswith("this window")
    assert by_window[H0 + HOUR].breached is False
    shifted = by_window[H0 + 2 * HOUR]
    assert shifted.breached is True and shifted.value > 0.2
    assert shifted.details["figures"]["score_drift"] > 0.2


def test_two_evaluators_never_evaluate_a_window_twice(world) -> None:
    for hour in range(3):
        ship_window(world.sdk, world.model, H0 + hour * HOUR, 150, seed=20 + hour)
    monitoring, owner = world.services.monitoring, world.services.owner
    for kind in (SignalKind.FEATURE_DRIFT, SignalKind.CONTRACT, SignalKind.PREDICTION_DRIFT):
        monitoring.create(owner, PROJECT, spec(kind.value, kind))
    now = H0 + 3 * HOUR + 60_000
    summaries = []
    barrier = threading.Barrier(2)

    def evaluate(worker: str) -> None:
        barrier.wait()
        summaries.append(monitoring.evaluate_due(WORKER, now=now, worker=worker))

    threads = [threading.Thread(target=evaluate, args=(f"w-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    windows = 3 * 3  # three monitors, three hours of traffic each
    assert sum(s.evaluated for s in summaries) == windows
    assert sum(s.failed for s in summaries) == 0
    keys = [(r.monitor, r.window_start) for s in summaries for r in s.results]
    assert len(keys) == len(set(keys)) == windows
    with world.services.db.read() as conn:
        stored = monitoring.results_since(conn, 0, limit=10_000)
    assert len(stored) == windows
    assert [r.seq for r in stored] == sorted(r.seq for r in stored)
    evaluations = [a for a in audit_actions(world) if a == "monitor.evaluate"]
    assert len(evaluations) == windows


def test_a_dead_workers_lease_expires_and_the_window_is_taken_over(world) -> None:
    ship_window(world.sdk, world.model, H0, 100, seed=30)
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("drift", SignalKind.FEATURE_DRIFT))
    monitoring.lookback_windows = 1
    now = H0 + HOUR + 60_000
    # the claim a worker took before it was killed
    with world.services.db.write() as conn:
        project_pk = world.services.projects.pk_in(conn, PROJECT)
        pk = monitoring.store.find(conn, project_pk, "drift").pk
        assert monitoring.store.claim(conn, pk, H0, worker="dead", token="t" * 32, now=now,
                                      lease_ms=monitoring.lease_ms)  # fmt: skip
    held = monitoring.evaluate_due(WORKER, now=now, worker="w-2")
    assert held.evaluated == 0 and held.skipped == 1
    later = monitoring.evaluate_due(WORKER, now=now + monitoring.lease_ms, worker="w-2")
    assert later.evaluated == 1 and later.results[0].evaluated_by == "w-2"
    # the dead worker's late write finds its claim gone: nothing written twice
    with world.services.db.write() as conn:
        assert monitoring.store.release(conn, pk, H0, "t" * 32) is False


def test_bad_input_changes_nothing(world) -> None:
    monitoring, owner = world.services.monitoring, world.services.owner
    before = audit_actions(world)
    bad = [
        (spec("m", SignalKind.FEATURE_DRIFT, condition="drifted_share >> 1"), InvalidInput),
        (spec("m", SignalKind.FEATURE_DRIFT, condition="roc_auc < 0.7"), InvalidInput),
        (spec("m", SignalKind.FEATURE_DRIFT, params={"method": "magic"}), InvalidInput),
        (spec("m", SignalKind.CONTRACT, params={"columns": ["tenure"]}), InvalidInput),
        (spec("m", SignalKind.SLO, params={"objective": "latency", "target": 0.99}), InvalidInput),
        (spec("m", SignalKind.FEATURE_DRIFT, version="churn-lr@9"), NotFound),
        (MonitorSpec(name="m", endpoint="nope", kind=SignalKind.CONTRACT), NotFound),
    ]
    for wrong, error in bad:
        with pytest.raises(error):
            monitoring.create(owner, PROJECT, wrong)
    monitoring.create(owner, PROJECT, spec("m", SignalKind.CONTRACT))
    with pytest.raises(AlreadyExists):
        monitoring.create(owner, PROJECT, spec("m", SignalKind.CONTRACT))
    with pytest.raises(InvalidInput):
        monitoring.update(owner, PROJECT, "m", MonitorUpdate(condition="violations >>> 2"))
    with pytest.raises(NotFound):
        monitoring.delete(owner, PROJECT, "other")
    assert [m.name for m in monitoring.list_monitors(owner, PROJECT)] == ["m"]
    assert monitoring.get(owner, PROJECT, "m").condition is None
    assert audit_actions(world)[len(before) :] == ["monitor.create"]
    with pytest.raises(ValueError, match="duration"):
        MonitorSpec(name="w", endpoint="prod", kind=SignalKind.CONTRACT, window="1 hour")


def test_a_viewer_reads_and_may_not_write(world) -> None:
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("m", SignalKind.CONTRACT))
    monitoring.update(owner, PROJECT, "m", MonitorUpdate(owner="mle", severity="page"))
    assert monitoring.get(owner, PROJECT, "m").severity == "page"
    monitoring.delete(owner, PROJECT, "m")
    assert monitoring.list_monitors(owner, PROJECT) == []


def test_a_new_monitor_starts_at_its_creation_not_a_lookback_of_empty_windows(world) -> None:
    monitoring, owner = world.services.monitoring, world.services.owner
    created = monitoring.create(owner, PROJECT, spec("contract", SignalKind.CONTRACT))
    born = created.created_at // HOUR * HOUR
    # no traffic at all: the first pass, hours later, looks back to the creation only
    summary = monitoring.evaluate_due(WORKER, now=born + 3 * HOUR + 120_000, worker="w")
    assert [r.window_start for r in summary.results] == [born, born + HOUR, born + 2 * HOUR]
    assert all(r.breached is None and r.samples == 0 for r in summary.results)
    # traffic logged before the monitor was made is still evaluated (within the lookback)
    ship_window(world.sdk, world.model, born - 2 * HOUR, 200, seed=41)
    monitoring.create(owner, PROJECT, spec("drift", SignalKind.FEATURE_DRIFT))
    later = monitoring.check(owner, PROJECT, "drift", now=born + 3 * HOUR + 120_000)
    starts = sorted(r.window_start for r in later.results)
    assert starts == [born + h * HOUR for h in range(-2, 3)]
    assert next(r for r in later.results if r.window_start == born - 2 * HOUR).samples == 200


def test_a_window_evaluated_since_another_worker_found_it_due_is_not_claimed_again(world) -> None:
    ship_window(world.sdk, world.model, H0, 100, seed=31)
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("drift", SignalKind.FEATURE_DRIFT))
    now = H0 + HOUR + 60_000
    with world.services.db.read() as conn:
        project_pk = world.services.projects.pk_in(conn, PROJECT)
        row = monitoring.store.find(conn, project_pk, "drift")
    assert monitoring._due_windows(row, now) == [H0]  # worker b reads what is due...
    # ...worker a evaluates the window, writes its result and gives its claim up...
    assert monitoring.evaluate_due(WORKER, now=now, worker="a").evaluated == 1
    # ...and b's claim, which now finds no lease in its way, finds the result
    assert monitoring._claim(row, PROJECT, H0, "b", now) is None
    assert len(monitoring.results(owner, PROJECT, "drift")) == 1
