"""The worker's loop in process over real services (SQLite or PostgreSQL): each tick runs its
three steps at the clock's time as `system:worker`; the loop ticks once per interval on a
controllable clock; a step that fails is logged and counted while the next step and the next
tick run; the thread form (`tandem server --with-worker`) stops after its tick."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from tandem.core.executor import LocalExecutor
from tandem.errors import InvalidInput
from tandem.server.container import Services
from tandem.server.worker import (
    STEPS,
    ManualClock,
    MonitoringWorker,
    SystemClock,
    WorkerThread,
)

T0 = 1_796_000_000_000 - 1_796_000_000_000 % 3_600_000


@contextmanager
def table_away(services: Services, table: str) -> Iterator[None]:
    """A real fault: the table a step writes is gone for a while (renamed, then put back)."""
    with services.db.write() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    try:
        yield
    finally:
        with services.db.write() as conn:
            conn.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))


def test_a_tick_runs_every_step_at_the_clocks_time(services: Services):
    worker = MonitoringWorker(
        services, executor=LocalExecutor(), clock=ManualClock(T0), worker_id="w-1"
    )
    assert worker.principal.name == "system:worker"
    tick = worker.tick()
    assert tick.at == T0 and tick.worker == "w-1"
    assert list(tick.steps) == list(STEPS)
    assert tick.ok and tick.errors == 0
    for name in ("alerts", "deliveries"):
        assert tick.steps[name].ok and tick.steps[name].skipped is None
    assert tick.steps["alerts"].summary["results"] == 0
    assert tick.steps["deliveries"].summary == {"sent": 0, "retrying": 0, "failed": 0}
    as_json = tick.to_json()
    assert as_json["worker"] == "w-1" and as_json["at"] == T0 and as_json["ok"] is True
    assert set(as_json["steps"]) == set(STEPS)
    assert "0 errors" in tick.line()
    # an explicit `now` wins over the clock
    assert worker.tick(now=T0 + 5).at == T0 + 5
    assert worker.ticks == 2 and worker.errors == 0


def test_the_loop_ticks_once_per_interval_on_a_controllable_clock(services: Services):
    clock = ManualClock(T0)
    worker = MonitoringWorker(services, clock=clock, interval_s=30)
    seen: list[int] = []
    ran = worker.run(threading.Event(), on_tick=lambda tick: seen.append(tick.at), max_ticks=4)
    assert ran == 4
    assert seen == [T0, T0 + 30_000, T0 + 60_000, T0 + 90_000]
    # once: one tick, whatever the interval
    assert worker.run(threading.Event(), once=True) == 1
    # a stop set before the loop starts: no tick
    stop = threading.Event()
    stop.set()
    assert worker.run(stop) == 0
    with pytest.raises(InvalidInput, match="interval is at least"):
        MonitoringWorker(services, interval_s=0)


def test_a_failing_step_is_counted_and_the_loop_goes_on(
    services: Services, caplog: pytest.LogCaptureFixture
):
    clock = ManualClock(T0)
    worker = MonitoringWorker(services, clock=clock, interval_s=60, worker_id="w-2")
    ticks = []
    with caplog.at_level(logging.ERROR, logger="tandem.worker"):
        with table_away(services, "alert_cursors"):
            worker.run(threading.Event(), on_tick=ticks.append, max_ticks=2)
        worker.run(threading.Event(), on_tick=ticks.append, once=True)  # the table is back
    assert len(ticks) == 3
    for failed in ticks[:2]:
        assert failed.steps["alerts"].ok is False
        assert failed.steps["alerts"].error
        assert failed.steps["deliveries"].ok  # the next step ran anyway
        assert failed.errors == 1 and not failed.ok
        assert "alerts FAILED" in failed.line()
    assert ticks[2].ok  # and the next tick recovered
    assert worker.errors == 2
    failures = [r for r in caplog.records if "alerts failed" in r.getMessage()]
    assert len(failures) == 2 and all("w-2" in r.getMessage() for r in failures)


def test_the_thread_stops_after_its_tick(services: Services):
    clock = ManualClock(T0)
    ticked = threading.Event()
    worker = MonitoringWorker(services, clock=clock, interval_s=3600)

    class Clock(SystemClock):  # real waiting, so the thread sits in its wait when stopped
        def now(self) -> int:
            ticked.set()
            return clock.now()

    worker.clock = Clock()
    closed: list[bool] = []
    background = WorkerThread(worker, close=lambda: closed.append(True)).start()
    assert ticked.wait(30)
    background.stop(timeout=30)
    assert not background.thread.is_alive()
    assert closed == [True] and worker.ticks == 1


def test_a_system_clock_can_start_at_a_given_moment():
    clock = SystemClock.starting_at(T0)
    first = clock.now()
    assert first == T0
    assert T0 <= clock.now() < T0 + 60_000
    stop = threading.Event()
    stop.set()
    assert clock.wait(10, stop) is True  # a set stop ends the wait at once
