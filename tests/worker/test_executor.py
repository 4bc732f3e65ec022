"""Where heavy monitor evaluations run (tandem.core.executor): in process, on threads, or as
tasks on a real local Ray cluster; results in job order either way, a tandem error raised as
itself, and the choice by name or by TANDEM_EXECUTOR."""

from __future__ import annotations

import os
import sys
from functools import partial

import pytest

from tandem.core.executor import LocalExecutor, RayExecutor, executor_named
from tandem.errors import InvalidInput, NotFound
from tandem.monitoring.slo import SloPoint, SloSpec, evaluate


def burn_of(spec: SloSpec, job: tuple[int, list[SloPoint]]) -> tuple[float | None, int]:
    """A monitor-like job: one SLO over one endpoint's points, and the process it ran in."""
    at, points = job
    return evaluate(spec, points, at).value, os.getpid()


def refuse(job: int) -> int:
    if job == 3:
        raise NotFound(f"no monitor {job}")
    return job


def jobs(count: int) -> list[tuple[int, list[SloPoint]]]:
    at = 3_600_000 * 100
    return [
        (at, [SloPoint(t, t + 300_000, 1_000, i) for t in range(at - 3_600_000, at, 300_000)])
        for i in range(count)
    ]


SPEC = SloSpec.from_params({"target": 0.999, "min_requests": 10})


def test_local_executor_answers_in_job_order():
    expected = [float(i) for i in range(8)]  # i errors per 1,000 against a 0.1 % budget: i x
    for executor in (LocalExecutor(), LocalExecutor(workers=3)):
        answers = executor.map(partial(burn_of, SPEC), jobs(8))
        assert [value for value, _ in answers] == pytest.approx(expected)
        assert {pid for _, pid in answers} == {os.getpid()}
        assert executor.map(refuse, []) == []
        with pytest.raises(NotFound, match="no monitor 3"):
            executor.map(refuse, [1, 2, 3, 4])
    with pytest.raises(InvalidInput, match="at least 1 worker thread"):
        LocalExecutor(workers=0)


def test_choosing_an_executor():
    assert isinstance(executor_named(environ={}), LocalExecutor)
    assert isinstance(executor_named(environ={"TANDEM_EXECUTOR": " Local "}), LocalExecutor)
    assert isinstance(executor_named(environ={"TANDEM_EXECUTOR": "ray"}), RayExecutor)
    assert isinstance(executor_named("local", {"TANDEM_EXECUTOR": "ray"}), LocalExecutor)
    with pytest.raises(InvalidInput, match="TANDEM_EXECUTOR must be 'local' or 'ray'"):
        executor_named(environ={"TANDEM_EXECUTOR": "spark"})
    with pytest.raises(InvalidInput, match="--executor must be 'local' or 'ray'"):
        executor_named("dask")


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_tasks_answer_what_the_local_executor_answers():
    import ray  # a dev dependency: its absence fails the test, it does not skip it
    import ray.cloudpickle

    # Ray's workers cannot import this test module: its functions travel by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

    was_running = ray.is_initialized()
    executor = RayExecutor(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        work = jobs(6)
        local = LocalExecutor().map(partial(burn_of, SPEC), work)
        remote = executor.map(partial(burn_of, SPEC), work)
        assert [value for value, _ in remote] == [value for value, _ in local]
        assert os.getpid() not in {pid for _, pid in remote}  # they ran in Ray's workers
        # a tandem error in a task is raised as itself, not as Ray's wrapper
        with pytest.raises(NotFound, match="no monitor 3"):
            executor.map(refuse, [1, 2, 3])
        assert executor.map(refuse, []) == []
    finally:
        executor.close()
    # closing stops the cluster it started, not one that was already running
    assert ray.is_initialized() is was_running
