"""Group commit: requests that arrive while a transaction is being written share the next one.

A served `POST /runs/{id}/batch` of a few points costs the database far more in its transaction
(round trips, the commit's flush, the row locks on the run's latest values that every writer to
that run queues for) than in its rows. One writer thread takes every batch waiting and applies
them together (`TrackingService.log_batches`), so under load a transaction carries many
requests, and with one request waiting it carries one, at no added delay (ADR 17).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_GROUP = 64  # requests per transaction: bounds one transaction's size and its latency


class GroupCommitter(Generic[Item, Result]):
    """Hands items to `apply` in groups, from one thread started on first use.

    `apply(items)` returns one result or exception per item, in order; each `submit`'s future
    gets its own.
    """

    def __init__(
        self,
        apply: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        *,
        max_group: int = MAX_GROUP,
        name: str = "tandem-group-commit",
    ) -> None:
        self._apply = apply
        self._max_group = max_group
        self._name = name
        # None asks the thread to stop once it has applied what came before
        self._queue: queue.SimpleQueue[tuple[Item, Future[Result]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, item: Item) -> Future[Result]:
        """Queue `item` for the next group; its future holds its result or its error."""
        future: Future[Result] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Apply what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self._max_group:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    stopping = True
                    break
                group.append(entry)
            items = [item for item, _ in group]
            try:
                results = self._apply(items)
            except Exception as error:  # every waiting request gets the error, not a hang
                results = [error] * len(items)
            for (_, future), result in zip(group, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
