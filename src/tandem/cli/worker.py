"""`tandem worker`: run the monitoring schedule (tandem.server.worker) in a process of its own."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated, Any

import orjson
import typer

from tandem.cli.output import OPTIONS, console, err_console, handle_errors, print_json
from tandem.errors import InvalidInput


def parse_interval(text: str) -> float:
    """`30s`, `5m`, `1h`, or seconds as a number (`0.5`)."""
    from tandem.core.clock import parse_duration

    cleaned = text.strip()
    try:
        seconds = float(cleaned)
    except ValueError:
        seconds = float(parse_duration(cleaned))
    if not seconds > 0:
        raise InvalidInput(f"invalid interval {text!r}: it must be more than 0 s")
    return seconds


@handle_errors
def worker(
    interval: Annotated[str, typer.Option("--interval", help="time from one tick to the next: 30s, 5m, or seconds")] = "30s",
    executor: Annotated[str | None, typer.Option("--executor", help="where heavy evaluations run: local or ray (default: TANDEM_EXECUTOR, else local; RAY_ADDRESS names a cluster)")] = None,
    once: Annotated[bool, typer.Option("--once", help="one tick, then exit (for cron or CI): exit code 1 when a step failed")] = False,
    at: Annotated[str | None, typer.Option("--at", help="the worker's clock starts at this moment (ISO-8601 UTC or ms): backfills and tests")] = None,
    name: Annotated[str | None, typer.Option("--name", help="the worker's id in its leases (default: host:pid:random)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print each tick as one JSON line")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p", help="evaluate this project's monitors only (alerts and deliveries stay the workspace's)")] = None,
) -> None:  # fmt: skip
    """Evaluate monitors on schedule, move alerts along and deliver their notifications.

    Each tick evaluates every closed window of every monitor not evaluated yet (claiming each
    with a lease, so several workers on one workspace never evaluate the same window twice),
    then updates the alerts and delivers what is due. The worker works on the workspace's
    database directly (TANDEM_HOME or TANDEM_DATABASE_URL), as `tandem server` does, acting as
    the system principal `system:worker`. With --project (here or before the command), it
    evaluates that project's monitors only; the alert rules and deliveries it moves along stay
    the workspace's, as they share one cursor and one queue.

    SIGTERM or Ctrl-C: the tick under way finishes, then the worker exits 0. Killed outright
    (kill -9), what it had claimed and not finished is taken over by the next worker once the
    leases expire: nothing is lost, and no window gets two results.
    """
    from tandem.core.clock import parse_instant
    from tandem.server.worker import SystemClock, Tick, build_worker, configure_logging

    if OPTIONS.get("url"):
        raise InvalidInput(
            "the worker runs on the workspace's database, not through a server: drop --url "
            "and set TANDEM_DATABASE_URL (or TANDEM_HOME) as for `tandem server`"
        )
    interval_s = parse_interval(interval)
    clock = SystemClock.starting_at(parse_instant(at)) if at is not None else SystemClock()
    if executor is not None and executor.strip().lower() not in ("local", "ray"):
        raise InvalidInput(f"unknown executor {executor!r}: --executor must be 'local' or 'ray'")
    configure_logging()
    running, close = build_worker(
        executor=executor, interval_s=interval_s, worker_id=name, clock=clock,
        project=project or OPTIONS.get("project"),
    )  # fmt: skip
    stop = threading.Event()
    previous = _stop_on_signals(stop)
    failed = {"ticks": 0}

    def report(tick: Tick) -> None:
        if not tick.ok:
            failed["ticks"] += 1
        if as_json and once:
            print_json(tick.to_json())
        elif as_json:  # one JSON object a line, flushed: a stream to read as it comes
            sys.stdout.write(orjson.dumps(tick.to_json()).decode() + "\n")
            sys.stdout.flush()
        else:
            console.print(tick.line(), soft_wrap=True)

    try:
        if not once:
            err_console.print(
                f"tandem worker {running.id}: every {interval_s:g} s on "
                f"{running.executor.name}"
                + (f", project {running.project}" if running.project else "")
                + " (SIGTERM or Ctrl-C stops it after the tick)"
            )
        running.run(stop, once=once, on_tick=report)
    finally:
        _restore(previous)
        close()
    if once and failed["ticks"]:
        raise typer.Exit(1)


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM, SIGINT, SIGHUP set `stop` (the tick under way finishes); a second one exits at
    once, as a plain signal would."""
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        stop.set()
        err_console.print("stopping after this tick (again to stop now)")

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
