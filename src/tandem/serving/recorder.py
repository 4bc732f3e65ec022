"""What a gateway counts: per-deployment stats windows for the hub's controller, the shadow
comparison, and the prediction log.

`Recorder` is the interface the request path calls (lane gwops builds the reporter and the
prediction-log shipper on it). Every method is called on the request path or right after it,
so none may block: `WindowRecorder` keeps counts under one uncontended lock and hands log
entries to a sink that must itself never block (a bounded queue that drops when full).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Protocol

from tandem.core.clock import now_ms
from tandem.deployments.models import LatencyBuckets, ShadowFigures, WindowStats

LogEntry = tuple[str, int, str, str, int, int, float, str, str]
"""(request_id, at_ms, deployment, model, version, status, latency_ms, inputs_json,
output_json): one prediction, in the order of `tandem.predictions.models.BATCH_COLUMNS`.
`inputs_json` is `{"columns": [...], "data": [[...], ...]}` (the signature's columns, in its
order, so personal columns can be masked by name); `output_json` is the list of predictions,
or the problem body when the request failed."""

BOUNDS_MS = LatencyBuckets.BOUNDS_MS


def bucket_of(latency_ms: float) -> int:
    """The index of the histogram bucket `latency_ms` falls in (`le` semantics, the last
    index is +Inf): shared by the stats windows and /metrics so both read alike."""
    return bisect_left(BOUNDS_MS, latency_ms)


class Recorder(Protocol):
    """Where the request path reports what happened. Implementations must never block."""

    def observe(self, deployment: str, status: int, latency_ms: float) -> None:
        """One answered request of `deployment` (status >= 500 counts as an error)."""

    def observe_shadow(
        self, deployment: str, agreed: bool, abs_diff: float, latency_ms: float, error: bool
    ) -> None:
        """One mirrored request the shadow `deployment` answered (or failed: `error`)."""

    def log(self, entry: LogEntry) -> None:
        """One prediction for the prediction log; dropped (and counted) when the log is full."""


class _Window:
    __slots__ = ("counts", "errors", "requests", "shadow", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.requests = 0
        self.errors = 0
        self.counts = [0] * (len(BOUNDS_MS) + 1)
        self.shadow: ShadowFigures | None = None


class WindowRecorder:
    """A `Recorder` that adds requests into open windows per deployment; `drain` closes them
    (the stats reporter calls it every second and sends the windows in a StatsReport).

    `log_sink` receives prediction-log entries (the prediction log's bounded queue); without
    one, entries are discarded."""

    def __init__(
        self,
        log_sink: Callable[[LogEntry], None] | None = None,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._open: dict[str, _Window] = {}
        self._sink = log_sink

    def _window(self, deployment: str) -> _Window:
        window = self._open.get(deployment)
        if window is None:
            window = self._open[deployment] = _Window(self._clock())
        return window

    def observe(self, deployment: str, status: int, latency_ms: float) -> None:
        index = bisect_left(BOUNDS_MS, latency_ms)
        with self._lock:
            window = self._window(deployment)
            window.requests += 1
            window.errors += status >= 500
            window.counts[index] += 1

    def observe_shadow(
        self, deployment: str, agreed: bool, abs_diff: float, latency_ms: float, error: bool
    ) -> None:
        with self._lock:
            window = self._window(deployment)
            figures = window.shadow
            if figures is None:
                figures = window.shadow = ShadowFigures()
            figures.compared += 1
            figures.agreed += agreed and not error
            figures.errors += error
            figures.abs_diff_sum += abs_diff
            figures.latency_ms_sum += latency_ms

    def log(self, entry: LogEntry) -> None:
        if self._sink is not None:
            self._sink(entry)

    def drain(self, now: int | None = None) -> list[WindowStats]:
        """Close every open window at `now` (ms) and return them; the next observation opens
        a new one. A window's `start` is its first observation, so it is never empty."""
        with self._lock:
            closed, self._open = self._open, {}
        end = self._clock() if now is None else now
        return [
            WindowStats(
                deployment=deployment,
                start=window.start,
                end=max(end, window.start + 1),
                requests=window.requests,
                errors=window.errors,
                latency_counts=window.counts,
                shadow=window.shadow,
            )
            for deployment, window in closed.items()
        ]
