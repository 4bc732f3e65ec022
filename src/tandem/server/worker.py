"""The monitoring worker: the schedule that evaluates monitors, moves alerts along and delivers
their notifications. It runs as `tandem worker` (a process of its own; as many as you like on
one workspace) or inside `tandem server --with-worker` (a thread of the server's process).

Each tick, at the worker's clock's `now`, acting as `Principal.system("worker")`:

  1. `MonitoringService.evaluate_due(principal, now=, worker=, executor=)`: every closed window
     of every monitor not evaluated yet, each claimed with a lease so that two workers never
     evaluate the same one; heavy parts go to the executor (local, or Ray tasks);
  2. `AlertService.tick(principal, now=)`: the rules' state over the new results (pending,
     firing, resolved), grouping, inhibition, silences, escalation;
  3. `AlertService.deliver_due(principal, now=)`: the notifications whose time has come
     (in-app, webhooks, PagerDuty), with retries and backoff.

A step that fails is logged and counted, and the next step and the next tick run anyway; the
services isolate one project's failure from the others'. Nothing is held in the worker between
ticks: what it claimed and did not finish (killed with -9) waits for its lease to expire and
is done by the next worker that comes along (ADR 24).

    worker = MonitoringWorker(services, executor=LocalExecutor(), clock=ManualClock(t0))
    tick = worker.tick()                   # one tick at the clock's now
    worker.run(stop=threading.Event())     # ticks every interval until stop is set
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandem.core.auth import Principal
from tandem.core.clock import now_ms
from tandem.core.executor import Executor, LocalExecutor
from tandem.errors import InvalidInput, TandemError

log = logging.getLogger("tandem.worker")

STEPS = ("evaluate", "alerts", "deliveries")
"""A tick's steps, in order: the JSON keys of `Tick.steps`."""

MIN_INTERVAL_S = 0.05


class Clock(Protocol):
    """The worker's time: `now()` in ms since the epoch, and `wait(seconds, stop)`, which
    returns True when `stop` was set before the time passed."""

    def now(self) -> int: ...

    def wait(self, seconds: float, stop: threading.Event) -> bool: ...


class SystemClock:
    """The wall clock; or, `starting_at(t)`, a clock whose first reading is `t` and which runs
    at real speed from there (`tandem worker --at`: backfills, tests)."""

    def __init__(self) -> None:
        self._start_at: int | None = None
        self._offset_ms: int | None = 0

    @classmethod
    def starting_at(cls, at_ms: int) -> SystemClock:
        clock = cls()
        clock._start_at, clock._offset_ms = at_ms, None
        return clock

    def now(self) -> int:
        wall = now_ms()
        if self._offset_ms is None:  # the first reading is the start
            assert self._start_at is not None
            self._offset_ms = self._start_at - wall
        return wall + self._offset_ms

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


class ManualClock:
    """A clock the caller moves (tests, backfills): `wait` advances it by the interval at once
    instead of sleeping."""

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self.at_ms

    def set(self, at_ms: int) -> None:
        with self._lock:
            self.at_ms = at_ms

    def advance(self, seconds: float) -> int:
        with self._lock:
            self.at_ms += round(seconds * 1000)
            return self.at_ms

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return True
        self.advance(seconds)
        return stop.is_set()


@dataclass
class StepOutcome:
    """One step of a tick: what the service answered (`summary`), `skipped` when the service
    is not part of this build, or the `error` it raised; `errors` counts failures inside the
    step that the service reported and carried on from (one project's evaluation, one
    delivery)."""

    ok: bool = True
    summary: Any = None
    skipped: str | None = None
    error: str | None = None
    errors: int = 0
    ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "errors": self.errors, "ms": round(self.ms, 1)}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        if self.error is not None:
            out["error"] = self.error
        if self.summary is not None:
            out["summary"] = self.summary
        return out


@dataclass
class Tick:
    """What one tick did, at `at` (ms), by `worker`."""

    worker: str
    at: int
    steps: dict[str, StepOutcome] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(step.errors + (0 if step.ok else 1) for step in self.steps.values())

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "at": self.at,
            "ok": self.ok,
            "errors": self.errors,
            "steps": {name: step.to_json() for name, step in self.steps.items()},
        }

    def line(self) -> str:
        """One human line: `2026-12-07 16:00:00 worker w1: evaluate 3 ..., 0 errors`."""
        from tandem.core.clock import format_ms

        parts = []
        for name, step in self.steps.items():
            if step.skipped is not None:
                parts.append(f"{name} skipped")
            elif not step.ok:
                parts.append(f"{name} FAILED ({step.error})")
            else:
                parts.append(f"{name} {_brief(step.summary)}".rstrip())
        noun = "error" if self.errors == 1 else "errors"
        return f"{format_ms(self.at)} {self.worker}: {'; '.join(parts)}; {self.errors} {noun}"


def default_worker_id() -> str:
    """`host:pid:random`: unique among the workers of a workspace, readable in a lease row."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class MonitoringWorker:
    """The tick loop over one `Services` (see the module's docstring).

    Args:
        services: the process's services (`Services.build`); `monitoring` and `alerts` are read
            when the worker ticks, so a build without them ticks with those steps skipped.
        executor: where heavy evaluations run.
        clock: the worker's time (`SystemClock` by default; `ManualClock` in tests).
        worker_id: the name the worker's leases carry.
        interval_s: seconds from the start of one tick to the start of the next.
        project: evaluate this project's monitors only (`tandem worker -p`); the alerts and
            their deliveries stay the workspace's (one cursor, one queue).
    """

    def __init__(
        self,
        services: Any,
        *,
        executor: Executor | None = None,
        clock: Clock | None = None,
        worker_id: str | None = None,
        interval_s: float = 30.0,
        project: str | None = None,
    ) -> None:
        if not interval_s >= MIN_INTERVAL_S:
            raise InvalidInput(
                f"the worker's interval is at least {MIN_INTERVAL_S} s, not {interval_s}"
            )
        self.services = services
        self.executor: Executor = executor if executor is not None else LocalExecutor()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.id = worker_id or default_worker_id()
        self.interval_s = interval_s
        self.project = project
        self.principal = Principal.system("worker")
        self.ticks = 0
        self.errors = 0

    # -- one tick ----------------------------------------------------------------------------

    def tick(self, now: int | None = None) -> Tick:
        """Run the three steps once at `now` (default: the clock's). Never raises for a step's
        failure: it is logged and counted in the Tick."""
        at = self.clock.now() if now is None else now
        tick = Tick(worker=self.id, at=at)
        monitoring = getattr(self.services, "monitoring", None)
        alerts = getattr(self.services, "alerts", None)
        tick.steps["evaluate"] = self._step(
            "evaluate", monitoring, "evaluate_due",
            lambda service: service.evaluate_due(
                self.principal, now=at, worker=self.id, executor=self.executor,
                project=self.project,
            ),
        )  # fmt: skip
        tick.steps["alerts"] = self._step(
            "alerts", alerts, "tick", lambda service: service.tick(self.principal, now=at)
        )
        tick.steps["deliveries"] = self._step(
            "deliveries", alerts, "deliver_due",
            lambda service: service.deliver_due(self.principal, now=at),
        )  # fmt: skip
        self.ticks += 1
        self.errors += tick.errors
        return tick

    def _step(
        self, name: str, service: Any, method: str, call: Callable[[Any], Any]
    ) -> StepOutcome:
        if service is None or not callable(getattr(service, method, None)):
            return StepOutcome(skipped=f"no {method} in this build")
        started = time.perf_counter()
        try:
            result = call(service)
        except Exception as exc:  # a step's failure never stops the loop
            message = (
                exc.message if isinstance(exc, TandemError) else f"{type(exc).__name__}: {exc}"
            )
            log.error(
                "worker %s: %s failed: %s",
                self.id,
                name,
                message,
                exc_info=not isinstance(exc, TandemError),
            )
            return StepOutcome(ok=False, error=message, ms=_ms_since(started))
        summary = _compact(_jsonable(result))
        failures = _reported_errors(result)
        for failure in failures:
            log.error("worker %s: %s: %s", self.id, name, failure)
        return StepOutcome(summary=summary, errors=len(failures), ms=_ms_since(started))

    # -- the loop ----------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        on_tick: Callable[[Tick], None] | None = None,
        max_ticks: int | None = None,
    ) -> int:
        """Tick every `interval_s` until `stop` is set (or once, or `max_ticks` times); the
        tick under way when `stop` is set finishes first. Returns how many ticks ran."""
        ran = 0
        while not stop.is_set():
            started = time.monotonic()
            tick = self.tick()
            ran += 1
            if on_tick is not None:
                on_tick(tick)
            if once or (max_ticks is not None and ran >= max_ticks):
                break
            left = self.interval_s - (time.monotonic() - started)
            if isinstance(self.clock, ManualClock):
                left = self.interval_s  # simulated time: a whole interval per tick
            if self.clock.wait(left, stop):
                break
        return ran


class WorkerThread:
    """The worker in a thread of another process (`tandem server --with-worker`): its own
    Services (its own database pool), stopped with `stop()` after the current tick."""

    def __init__(
        self, worker: MonitoringWorker, *, close: Callable[[], None] | None = None
    ) -> None:
        self.worker = worker
        self.stop_event = threading.Event()
        self._close = close
        self.thread = threading.Thread(target=self._run, name="tandem-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run(self.stop_event, on_tick=_log_tick)
        except BaseException:  # pragma: no cover - the loop catches its steps' errors
            log.exception("worker %s stopped", self.worker.id)

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
        if self._close is not None and not self.thread.is_alive():
            self._close()


def _log_tick(tick: Tick) -> None:
    level = logging.INFO if tick.ok else logging.WARNING
    log.log(level, "%s", tick.line())


def build_worker(
    *,
    executor: str | None = None,
    interval_s: float = 30.0,
    worker_id: str | None = None,
    clock: Clock | None = None,
    settings: Any = None,
    project: str | None = None,
) -> tuple[MonitoringWorker, Callable[[], None]]:
    """A worker over Services built as the server builds them (from TANDEM_* settings), and the
    function that closes them. `executor`: local or ray (default: the settings', TANDEM_EXECUTOR).
    `project`: evaluate that project's monitors only.

    Raises:
        InvalidInput: an unknown executor, or ray without Ray installed.
        NotFound: `project` does not exist.
    """
    from tandem.core.config import Settings
    from tandem.core.executor import executor_named
    from tandem.server.container import Services

    settings = settings if settings is not None else Settings.load()
    chosen = executor_named(executor if executor is not None else settings.executor)
    start = getattr(chosen, "start", None)
    if start is not None:
        start()  # Ray's driver belongs to the thread that starts it: this one
    services = Services.build(settings)

    def close() -> None:
        chosen.close()
        services.close()

    worker = MonitoringWorker(
        services, executor=chosen, clock=clock, worker_id=worker_id, interval_s=interval_s,
        project=project,
    )  # fmt: skip
    if project is not None:
        try:
            services.projects.get(worker.principal, project)  # NotFound: refuse before a tick
        except BaseException:
            close()
            raise
    return worker, close


def configure_logging() -> None:
    """The worker's events (a failed step, a tick's line in the server) on stderr."""
    logger = logging.getLogger("tandem.worker")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


# -- reading what the services answer ----------------------------------------------------------


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _jsonable(value: Any) -> Any:
    """A service's answer as JSON-ready data: pydantic models dumped, dataclasses as dicts."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


_RESULT_KEYS = ("project", "monitor", "window_start", "window_end", "breached", "value")


def _compact(summary: Any) -> Any:
    """A summary's `results` (monitor results, with their details) cut to what a tick's line
    needs: which window of which monitor, breached or not, its value (`tandem monitors show`
    has the rest)."""
    if isinstance(summary, dict) and isinstance(summary.get("results"), list):
        summary["results"] = [
            {key: item.get(key) for key in _RESULT_KEYS} if isinstance(item, dict) else item
            for item in summary["results"]
        ]
    return summary


def _reported_errors(result: Any) -> list[str]:
    """The failures a service carried on from and reported in its answer (`errors`: a list of
    messages or records, or a count)."""
    errors = getattr(result, "errors", None)
    if errors is None and isinstance(result, dict):
        errors = result.get("errors")
    if errors is None or isinstance(errors, bool):
        return []
    if isinstance(errors, int):
        return [f"{errors} failure(s)"] if errors else []
    if isinstance(errors, dict):
        return [f"{key}: {value}" for key, value in errors.items()]
    if isinstance(errors, list | tuple):
        return [str(_jsonable(error)) for error in errors]
    return []


def _brief(summary: Any) -> str:
    """The counts of a step's summary, `evaluated=3 breached=1`."""
    if isinstance(summary, dict):
        counts = [
            f"{key}={value}"
            for key, value in summary.items()
            if isinstance(value, int) and not isinstance(value, bool)
        ]
        return " ".join(counts[:6])
    if isinstance(summary, int):
        return str(summary)
    if isinstance(summary, list):
        return str(len(summary))
    return ""
