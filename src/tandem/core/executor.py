"""Where heavy work runs: in this process, or as Ray tasks. One executor for every domain that
needs one (ADR 29): the data domain profiles and validates a table one part a task, the
monitoring worker evaluates due windows one window a task.

An `Executor` maps a function over jobs and answers the results in job order, whatever order
they finish in, so merging them is deterministic and a distributed result equals the local one.
What touches the database (claiming a monitor's window, writing its result, storing a profile)
stays in the calling process: a task that dies loses nothing but its own work.

    executor = executor_named("ray")            # or "local" (the default), or TANDEM_EXECUTOR
    results = executor.map(evaluate_window, jobs)

Ray is the optional extra `tandem[ray]`, imported only when a `RayExecutor` is made. It joins
the cluster at `address` (or RAY_ADDRESS, as `ray.init` reads it) or starts a local one. Jobs,
the function and the results travel by pickle (cloudpickle): pass module-level functions (or
`functools.partial`s of them) and plain data, never a database connection or a service.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from tandem.errors import InvalidInput, TandemError

J = TypeVar("J")
R = TypeVar("R")

EXECUTOR_ENV = "TANDEM_EXECUTOR"
EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'tandem[ray]'"


class Executor(Protocol):
    """Maps a function over jobs, somewhere, and answers the results in job order."""

    name: str

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        """`[fn(job) for job in jobs]`, possibly in parallel. A `TandemError` raised by `fn` is
        raised as itself."""
        ...

    def close(self) -> None:
        """Release what the executor started (a local Ray cluster it began)."""
        ...


class LocalExecutor:
    """In this process: one job after another, or on `workers` threads (worth it when `fn`
    spends its time in Polars or NumPy, which release the GIL)."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise InvalidInput(f"a local executor needs at least 1 worker thread, not {workers}")
        self.workers = workers

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        if self.workers <= 1 or len(jobs) <= 1:
            return [fn(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(fn, jobs))

    def close(self) -> None:
        return None


class RayExecutor:
    """One Ray task per job.

    Args:
        address: the cluster (`ray://host:10001`, `auto`); None reads RAY_ADDRESS, or starts a
            local cluster when that is unset.
        init_options: more keyword arguments for `ray.init` when this executor starts Ray (e.g.
            `num_cpus=2, include_dashboard=False`).

    Raises:
        InvalidInput: Ray is not installed.
    """

    name = "ray"

    def __init__(self, address: str | None = None, **init_options: Any) -> None:
        self._ray = _import_ray()
        self.address = address
        self.init_options = init_options
        self._started = False

    def start(self) -> None:
        """Join or start the cluster now (`map` does it on first use). Call it from the main
        thread when jobs will be sent from another: Ray's driver belongs to the thread that
        started it."""
        with _INIT_LOCK:
            if not self._ray.is_initialized():
                self._ray.init(address=self.address, **self.init_options)
                self._started = True

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        ray = self._ray
        if not jobs:
            return []
        self.start()
        # ray.remote takes plain functions only, so one generic task applies `fn` (partials,
        # bound methods and closures included); `fn` is pickled once and shared by reference.
        task = ray.remote(_apply)
        shared = ray.put(fn)
        futures = [task.remote(shared, job) for job in jobs]
        try:
            return list(ray.get(futures))
        except ray.exceptions.RayTaskError as error:
            # a tandem error in a task is the caller's error, not Ray's: raise it as itself
            cause = getattr(error, "cause", None)
            if isinstance(cause, TandemError):
                raise cause from None
            raise

    def close(self) -> None:
        """Stop Ray if this executor started it (a cluster it joined keeps running)."""
        with _INIT_LOCK:
            if self._started and self._ray.is_initialized():
                self._ray.shutdown()
            self._started = False


_INIT_LOCK = threading.Lock()


def _apply(fn: Callable[[J], R], job: J) -> R:
    return fn(job)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            f"the Ray executor needs Ray, which is not installed: {RAY_INSTALL_HINT}"
        ) from None
    return ray


def executor_named(
    name: str | None = None, environ: Mapping[str, str] | None = None, **ray_options: Any
) -> Executor:
    """The executor called `name` (`local` or `ray`), or TANDEM_EXECUTOR's when `name` is None
    (local when unset). `ray_options` go to `ray.init` when a Ray executor starts a cluster.

    Raises:
        InvalidInput: an unknown name, or `ray` without Ray installed.
    """
    env = os.environ if environ is None else environ
    value = (name if name is not None else env.get(EXECUTOR_ENV, "")).strip().lower()
    if value in ("", "local"):
        return LocalExecutor()
    if value == "ray":
        return RayExecutor(**ray_options)
    source = "--executor" if name is not None else EXECUTOR_ENV
    raise InvalidInput(f"unknown executor {value!r}: {source} must be 'local' or 'ray'")
