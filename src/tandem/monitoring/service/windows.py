"""Windows: which closed windows are due, claimed with a lease, computed (on an executor) and
judged, their result written while the claim is still the worker's."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.errors import TandemError
from tandem.monitoring import signals
from tandem.monitoring.models import (
    CheckSummary,
    MonitorResult,
    SignalKind,
)
from tandem.monitoring.service.jobs import Due, Job, JobOps, compute

log = logging.getLogger(__name__)


class WindowOps(JobOps):
    """`check` and `evaluate_due` and their steps."""

    def check(
        self, principal: Principal, project: str, monitor: str | None = None,
        now: int | None = None,
    ) -> CheckSummary:  # fmt: skip
        """Evaluate now every closed window of the project's monitors (or one monitor) that
        has no result yet: what `tandem monitors check` runs from cron or CI. The summary's
        `results` are the windows evaluated."""
        rows = self._project_rows(principal, project, monitor)
        return self._evaluate(principal, rows, now=now or now_ms(), worker=principal.name)

    def evaluate_due(
        self, principal: Principal, *, now: int, worker: str, executor: Any = None,
        project: str | None = None,
    ) -> CheckSummary:  # fmt: skip
        """Evaluate every monitor's closed windows with no result yet, in every project the
        principal may evaluate (the worker's pass), or in `project` only (`tandem worker -p`),
        and the windows whose labels changed. Each window is claimed first: another worker's
        windows are skipped.

        Raises:
            NotFound: `project` does not exist.
        """
        if project is not None:
            rows = self._project_rows(principal, project, None)
            return self._evaluate(principal, rows, now=now, worker=worker, executor=executor)
        with self.db.read() as conn:
            found = self.store.all(conn)
            names = self.projects.names(conn, {r.project_pk for r in found})
        allowed = [
            (names[r.project_pk], r)
            for r in found
            if r.project_pk in names and principal.may(Action.MONITOR_WRITE, names[r.project_pk])
        ]
        return self._evaluate(principal, allowed, now=now, worker=worker, executor=executor)

    def _project_rows(
        self, principal: Principal, project: str, monitor: str | None
    ) -> list[tuple[str, Any]]:
        """(project, row) of the project's monitors (or one), once the principal may evaluate."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            if monitor is not None:
                return [(project, self._row(conn, project_pk, project, monitor))]
            return [(project, r) for r in self.store.list(conn, project_pk)]

    def _evaluate(
        self, principal: Principal, monitors: Sequence[tuple[str, Any]], *, now: int,
        worker: str, executor: Any = None,
    ) -> CheckSummary:  # fmt: skip
        summary = CheckSummary()
        due: list[Due] = []
        for project, row in monitors:
            for start in self._due_windows(row, now):
                claimed = self._claim(row, project, start, worker, now)
                if claimed is None:
                    summary.skipped += 1
                else:
                    due.append(claimed)
        # Prediction drift keeps a baseline between windows: its windows go one after the
        # other, each reading the state the one before wrote. The rest go to the executor.
        stateful = [d for d in due if d.monitor.kind is SignalKind.PREDICTION_DRIFT]
        batch = [d for d in due if d.monitor.kind is not SignalKind.PREDICTION_DRIFT]
        for item in stateful:
            fresh = self._fresh_row(item)
            self._finish(principal, summary, [item], now, worker, None, fresh)
        if batch:
            self._finish(principal, summary, batch, now, worker, executor)
        return summary

    def _fresh_row(self, item: Due) -> Due:
        with self.db.read() as conn:
            row = self.store.find(conn, item.row.project_pk, item.monitor.name)
        return item if row is None else Due(row, item.project, item.monitor, item.start,
                                             item.end, item.token)  # fmt: skip

    def _finish(
        self, principal: Principal, summary: CheckSummary, due: list[Due], now: int,
        worker: str, executor: Any, *replaced: Due,
    ) -> None:  # fmt: skip
        """Prepare, compute and write the claimed windows `due` (`replaced`: the same items
        with their monitor's row read again)."""
        items = list(replaced) or due
        jobs: list[Job] = []
        for item in items:
            try:
                jobs.append(self._prepare(principal, item))
            except TandemError as exc:
                jobs.append(Job(item.monitor.kind, {}, details={"error": str(exc)},
                                 figures=signals.no_data(0, str(exc))))  # fmt: skip
        run: Callable[[Callable[[Job], Any], list[Job]], list[Any]] = (
            executor.map if executor is not None else (lambda fn, xs: [fn(j) for j in xs])
        )
        try:
            outputs = run(compute, jobs)
        except Exception as exc:  # the executor itself failed: give every claim back
            for item in items:
                self._release(item)
            summary.failed += len(items)
            summary.errors.append(f"the executor failed: {type(exc).__name__}: {exc}")
            return
        for item, job, output in zip(items, jobs, outputs, strict=True):
            if isinstance(output, str):
                self._release(item)
                summary.failed += 1
                summary.errors.append(f"{item.project}/monitors/{item.monitor.name}: {output}")
                continue
            result = self._judge(item, job, output, now, worker)
            written = self._write(principal, item, result, output.state)
            if written is None:
                summary.skipped += 1
                continue
            summary.evaluated += 1
            summary.breached += written.breached is True
            summary.no_data += written.breached is None
            summary.results.append(written)

    def _due_windows(self, row: Any, now: int) -> list[int]:
        """Starts of the monitor's closed windows in the lookback with no result, oldest
        first (a window whose labels changed has had its result taken away: see
        `_forget_changed`). A monitor younger than the lookback starts at the window holding
        its creation, or the endpoint's first traffic in the lookback (a prediction logged, figures
        a gateway reported) if that came first:
        the windows before are not evaluated as windows without data."""
        window = int(row.window_ms)
        last_end = (now - self.grace_ms) // window * window
        first = last_end - self.lookback_windows * window
        self._forget_changed(row, window, first)
        with self.db.read() as conn:
            done = self.store.evaluated_windows(conn, row.pk, first)
            born = int(row.created_at) // window * window
            if born > first:
                traffic = [
                    self.predictions.first_logged_in(conn, row.project_pk, row.endpoint, first),
                    self.deployments.first_reported_in(conn, row.project_pk, row.endpoint, first),
                ]
                for at in traffic:
                    if at is not None:
                        born = min(born, at // window * window)
                first = max(first, born)
        return [s for s in range(first, last_end, window) if s not in done]

    def _forget_changed(self, row: Any, window: int, first: int) -> None:
        """Windows whose labels changed since the monitor last looked lose their result, so
        the next claim evaluates them again, once, whichever worker gets there: the cursor
        (`outcomes_seen` in the monitor's state) and the results go in one transaction, on the
        monitor's row held."""
        if self.outcomes is None or row.kind not in (
            SignalKind.PERFORMANCE.value, SignalKind.ESTIMATED_PERFORMANCE.value
        ):  # fmt: skip
            return
        with self.db.write() as conn:
            held = self.store.find(conn, row.project_pk, row.name, lock=True)
            if held is None:
                return
            state = orjson.loads(held.state or "{}")
            seen = int(state.get("outcomes_seen", 0))
            changed = self.outcomes.changed_windows(conn, row.project_pk, row.endpoint, seen)
            if not changed:
                return
            state["outcomes_seen"] = max(int(c.updated_at) for c in changed)
            self.store.set_state(conn, held.pk, state)
            starts = {int(c.start) // window * window for c in changed}
            self.store.delete_results(conn, held.pk, sorted(s for s in starts if s >= first))

    def _claim(self, row: Any, project: str, start: int, worker: str, now: int) -> Due | None:
        token = secrets.token_hex(16)
        with self.db.write() as conn:
            if not self.store.claim(conn, row.pk, start, worker=worker, token=token, now=now,
                                    lease_ms=self.lease_ms):  # fmt: skip
                return None
            fresh = self.store.find(conn, row.project_pk, row.name)
            # deleted meanwhile, or evaluated meanwhile by a worker that has given its claim
            # up since this one read which windows were due
            if fresh is None or fresh.pk != row.pk or self.store.has_result(conn, row.pk, start):
                self.store.release(conn, row.pk, start, token)
                return None
        return Due(fresh, project, self.store.model(fresh, project), start,
                    start + int(row.window_ms), token)  # fmt: skip

    def _release(self, item: Due) -> None:
        with self.db.write() as conn:
            self.store.release(conn, item.row.pk, item.start, item.token)

    def _judge(self, item: Due, job: Job, figures: signals.FiguresLike, now: int,
               worker: str) -> MonitorResult:  # fmt: skip
        monitor = item.monitor
        condition = monitor.parsed_condition()
        value = figures.figures.get(condition.figure)
        if monitor.kind is SignalKind.KPI:
            value = figures.figures.get("value", value)
        breached: bool | None
        if not figures.judged or value is None:
            breached = None
        elif figures.verdict is not None and monitor.condition is None:
            breached = figures.verdict  # an SLO judged by its burn-rate pairs
        else:
            breached = condition.holds(float(value))
        details = {**job.details, **figures.details,
                   "figures": dict(figures.figures)}  # fmt: skip
        return MonitorResult(
            project=item.project, monitor=monitor.name, endpoint=monitor.endpoint,
            kind=monitor.kind, severity=monitor.severity, window_start=item.start,
            window_end=item.end, version=job.version, value=value, condition=str(condition),
            breached=breached, estimated=figures.estimated, band_low=figures.band[0],
            band_high=figures.band[1], samples=figures.samples, details=details,
            evaluated_at=now, evaluated_by=worker,
        )  # fmt: skip

    def _write(
        self, principal: Principal, item: Due, result: MonitorResult,
        state: dict[str, Any] | None,
    ) -> MonitorResult | None:  # fmt: skip
        """Store the result while the claim is still ours; None when it is not (the lease
        expired and another worker took the window)."""
        with self.db.write() as conn:
            if not self.store.release(conn, item.row.pk, item.start, item.token):
                return None
            seq = self.store.insert_result(conn, item.row.pk, item.row.project_pk, result)
            if state is not None:
                current = self.store.find(conn, item.row.project_pk, item.monitor.name)
                kept = orjson.loads(current.state or "{}") if current is not None else {}
                baselines = kept.setdefault("baselines", {})
                baselines.setdefault(result.version or "*", state)
                self.store.set_state(conn, item.row.pk, kept)
            self.audit.record(
                conn, principal, "monitor.evaluate",
                f"{item.project}/monitors/{item.monitor.name}", project=item.project,
                window_start=result.window_start, breached=result.breached, seq=seq,
            )  # fmt: skip
        return result.model_copy(update={"seq": seq})
