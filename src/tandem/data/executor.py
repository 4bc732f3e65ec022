"""Where data work runs: in this process, or across a Ray cluster.

An `Executor` maps a function over items and returns the results in order; that is all the
profiling (one task per file, then a merge) and partial validation counts need. Results come
back in item order whatever order tasks finish in, so merging them is deterministic and the
distributed result equals the local one.

    executor = executor_from_settings()           # TANDEM_EXECUTOR: local (default) or ray
    profile = profile_files(paths, fmt, executor)

Ray is an optional extra (`pip install 'tandem[ray]'`) and is imported only when a
`RayExecutor` is made. It joins the cluster at `address` (or RAY_ADDRESS, as `ray.init` reads
it), or starts a local one; the functions and their results travel by pickle (cloudpickle), so
they must be importable on the workers: module-level functions and `functools.partial`s of them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from tandem.errors import InvalidInput, TandemError

T = TypeVar("T")
R = TypeVar("R")

EXECUTOR_ENV = "TANDEM_EXECUTOR"
RAY_INSTALL_HINT = "pip install 'tandem[ray]'"


class Executor(Protocol):
    """Maps a function over items, somewhere, and returns the results in item order."""

    name: str

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`[fn(item) for item in items]`, possibly in parallel. A `TandemError` raised by `fn`
        is raised as itself."""
        ...


class LocalExecutor:
    """Runs in this process: one item after another, or on a thread pool of `workers`
    threads (useful when `fn` spends its time in Polars/NumPy, which release the GIL)."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(fn, items))


class RayExecutor:
    """Runs one Ray task per item on a Ray cluster.

    Args:
        address: the cluster to join (`ray://host:10001`, `auto`); None reads RAY_ADDRESS, or
            starts a local cluster when that is unset.
        init_options: more keyword arguments for `ray.init` when this executor starts Ray
            (e.g. `num_cpus=2, include_dashboard=False`). Ray stays up for the process's later
            tasks; call `ray.shutdown()` to stop it.

    Raises:
        InvalidInput: Ray is not installed.
    """

    name = "ray"

    def __init__(self, address: str | None = None, **init_options: Any) -> None:
        self._ray = _import_ray()
        self.address = address
        self.init_options = init_options

    def start(self) -> None:
        """Join or start the cluster now (map does it on first use). Call it from the main
        thread when tasks will be sent from others: Ray's driver belongs to the thread that
        started it."""
        with _INIT_LOCK:
            if not self._ray.is_initialized():
                self._ray.init(address=self.address, **self.init_options)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        ray = self._ray
        if not items:
            return []
        self.start()
        # ray.remote takes only plain functions, so one generic task calls `fn` (partials,
        # bound methods and lambdas included); Ray pickles it once and shares it by reference.
        task = ray.remote(_apply)
        shared = ray.put(fn)
        futures = [task.remote(shared, item) for item in items]
        try:
            return list(ray.get(futures))
        except ray.exceptions.RayTaskError as error:
            # A tandem error in a task (unreadable file, say) is the caller's error: raise it
            # as itself, not wrapped in Ray's remote traceback.
            cause = getattr(error, "cause", None)
            if isinstance(cause, TandemError):
                raise cause from None
            raise


_INIT_LOCK = threading.Lock()


def _apply(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            f"the Ray executor needs Ray, which is not installed: {RAY_INSTALL_HINT}"
        ) from None
    return ray


def executor_from_settings(
    name: str | None = None, environ: Mapping[str, str] | None = None
) -> Executor:
    """The executor named `name`, or by TANDEM_EXECUTOR when `name` is None: `local` (the
    default when unset) or `ray`.

    Raises:
        InvalidInput: an unknown name, or `ray` without Ray installed.
    """
    env = os.environ if environ is None else environ
    value = (name if name is not None else env.get(EXECUTOR_ENV, "")).strip().lower()
    if value in ("", "local"):
        return LocalExecutor()
    if value == "ray":
        return RayExecutor()
    raise InvalidInput(f"unknown executor {value!r}: {EXECUTOR_ENV} must be 'local' or 'ray'")
