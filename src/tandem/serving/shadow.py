"""Shadow mirroring: a copy of a request goes to each shadow deployment after the client has
its answer, on a thread of its own, so a shadow never adds to the primary's latency beyond the
CPU it shares. The shadow's answer is discarded and compared with the primary's: agreement of
the predicted values, the mean absolute difference of the scores, latency, and errors, into the
recorder's windows. The queue is bounded: when shadows cannot keep up, copies are dropped
(counted in `dropped`), never queued without end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from tandem.serving.formats import Frame, RequestError
from tandem.serving.recorder import Recorder
from tandem.serving.router import Route

log = logging.getLogger(__name__)

_STOP = object()


class ShadowMirror:
    """Takes (frame, primary route, primary outputs, shadow routes) off the request path."""

    def __init__(self, recorder: Recorder, *, capacity: int = 1024) -> None:
        self._recorder = recorder
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def offer(self, frame: Frame, primary: Route, outputs: list[Any], shadows: list[Route]) -> None:
        """Queue a copy for the shadows; drop it when the queue is full (never block)."""
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait((frame, primary, outputs, shadows))
        except queue.Full:
            self.dropped += 1

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tandem-shadow", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Compare what is queued, then stop the thread."""
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            frame, primary, outputs, shadows = item
            for shadow in shadows:
                try:
                    self.compare(frame, primary, outputs, shadow)
                except Exception:  # a comparison bug must not stop mirroring
                    log.exception("shadow comparison for %s failed", shadow.label)

    def compare(self, frame: Frame, primary: Route, outputs: list[Any], shadow: Route) -> None:
        """Answer `frame` with `shadow` and record how it compares with the primary."""
        started = time.perf_counter()
        try:
            prepared = shadow.predictor.schema.prepare(frame)
            answer = shadow.predictor.predict(prepared.input)
        except RequestError:
            answer = None  # the request does not fit the shadow's signature: its error
        except Exception:
            log.debug("shadow %s failed on a mirrored request", shadow.label, exc_info=True)
            answer = None
        latency_ms = (time.perf_counter() - started) * 1000.0
        if answer is None or len(answer) != len(outputs):
            self._recorder.observe_shadow(shadow.deployment, False, 0.0, latency_ms, True)
            return
        agreed = answer == outputs
        self._recorder.observe_shadow(
            shadow.deployment, agreed, _score_diff(frame, primary, shadow, prepared.input),
            latency_ms, False,
        )  # fmt: skip


def _score_diff(frame: Frame, primary: Route, shadow: Route, shadow_input: Any) -> float:
    """Mean |shadow score - primary score| over the rows, 0 when either gives no score."""
    try:
        theirs = shadow.predictor.score(shadow_input)
        ours = primary.predictor.score(primary.predictor.schema.prepare(frame).input)
    except Exception:
        return 0.0
    if not theirs or not ours or len(theirs) != len(ours):
        return 0.0
    return sum(abs(a - b) for a, b in zip(theirs, ours, strict=True)) / len(ours)
