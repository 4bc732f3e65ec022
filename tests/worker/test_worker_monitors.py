"""The worker over real monitors and alerts, in process (SQLite or PostgreSQL): a tick evaluates
every closed window once (a day of hourly SLO windows over what a gateway reported), the alerts
follow the breaches, and a second tick finds nothing left to do; a window another worker holds
is skipped, not evaluated twice; a Ray executor gives what the local one gives."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from worker_world import AT, BAD_FROM, END, HOUR, SLOS, expected_windows, results, seed
from worker_world import windows_evaluated as evaluated

from tandem.core.config import Settings
from tandem.core.executor import RayExecutor
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.server.container import Services
from tandem.server.worker import ManualClock, MonitoringWorker, Tick

BAD_WINDOWS = {(name, start) for name in SLOS for start in range(BAD_FROM, END, HOUR)}


@pytest.fixture
def world(settings: Settings, services: Services) -> Iterator[Services]:
    client = Client(settings=settings)
    seed(services, client)
    yield services
    client.close()
    embedded.close_all()


def test_a_tick_evaluates_each_window_once_and_the_alerts_follow(world: Services):
    worker = MonitoringWorker(world, clock=ManualClock(AT), worker_id="w-1", interval_s=60)
    tick = worker.tick()
    assert tick.ok, tick.to_json()
    evaluate = tick.steps["evaluate"].summary
    assert evaluate["evaluated"] == len(expected_windows()) == 3 * 24
    assert evaluate["failed"] == 0 and evaluate["errors"] == []
    counts = evaluated(world)
    assert set(counts) == expected_windows() and set(counts.values()) == {1}
    stored = results(world)
    assert {r.evaluated_by for r in stored} == {"w-1"}
    # the SLOs breach once the bad hours fill the 1 h window, and not before
    assert {(r.monitor, r.window_start) for r in stored if r.breached} == BAD_WINDOWS
    assert all(r.breached is False for r in stored if r.window_end <= BAD_FROM)
    last = [r for r in stored if r.window_end == END]
    assert len(last) == 3 and all(r.details["pairs"][0]["long"]["burn_rate"] > 14.4 for r in last)
    # the alerts step read those results in the same tick and fires a page per monitor
    alerts = tick.steps["alerts"].summary
    assert alerts["results"] == 3 * 24 and alerts["firing"] == 3
    firing = world.alerts.list_alerts(world.owner, "churn", state="firing", now=AT)
    assert sorted(a.name for a in firing) == sorted(SLOS)
    # the next tick, same time: nothing left to evaluate, nothing new to alert
    again = worker.tick()
    assert again.ok
    assert again.steps["evaluate"].summary["evaluated"] == 0
    assert again.steps["alerts"].summary["results"] == 0
    assert again.steps["alerts"].summary["new_firing"] == 0
    assert set(evaluated(world).values()) == {1}
    # an hour later, one more window each
    later = worker.tick(now=AT + HOUR)
    assert later.steps["evaluate"].summary["evaluated"] == 3
    assert set(evaluated(world).values()) == {1}


def test_two_workers_at_once_never_evaluate_a_window_twice(world: Services, settings: Settings):
    other = Services.build(settings)  # a second worker's services: its own pool
    try:
        workers = [
            MonitoringWorker(world, clock=ManualClock(AT), worker_id="w-a"),
            MonitoringWorker(other, clock=ManualClock(AT), worker_id="w-b"),
        ]
        barrier = threading.Barrier(2)
        ticks: dict[str, Tick] = {}

        def run(worker: MonitoringWorker) -> None:
            barrier.wait()
            ticks[worker.id] = worker.tick()

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert all(tick.ok for tick in ticks.values()), [t.to_json() for t in ticks.values()]
        summaries = [tick.steps["evaluate"].summary for tick in ticks.values()]
        assert sum(s["evaluated"] for s in summaries) == 3 * 24
        counts = evaluated(world)
        assert set(counts) == expected_windows() and set(counts.values()) == {1}
        by = Counter(r.evaluated_by for r in results(world))
        assert sum(by.values()) == 3 * 24 and set(by) <= {"w-a", "w-b"}
        for worker_id, tick in ticks.items():
            assert by[worker_id] == tick.steps["evaluate"].summary["evaluated"]
        # and afterwards neither finds anything left
        assert all(w.tick().steps["evaluate"].summary["evaluated"] == 0 for w in workers)
    finally:
        other.close()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_tasks_evaluate_what_the_local_executor_does(world: Services, settings: Settings):
    import ray

    executor = RayExecutor(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        worker = MonitoringWorker(world, executor=executor, clock=ManualClock(END + HOUR))
        tick = worker.tick()
        assert tick.ok, tick.to_json()
        assert tick.steps["evaluate"].summary["evaluated"] == 3 * 24
    finally:
        executor.close()
    assert not ray.is_initialized()
    # the verdicts the local executor gives (the first test): the bad hours breach, no other
    verdicts = {(r.monitor, r.window_start): r.breached for r in results(world)}
    assert set(verdicts) == expected_windows()
    assert {key for key, breached in verdicts.items() if breached} == BAD_WINDOWS
