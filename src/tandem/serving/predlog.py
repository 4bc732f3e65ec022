"""The gateway's prediction log: every answered request, off the request path, in bounded memory.

The request path calls `PredictionLog.log(entry)`: it samples (Policy.sampling), and appends the
entry to an in-memory queue of at most `capacity` entries, or counts it as dropped when the
queue is full. It never blocks, never raises and does no I/O, so a slow or unreachable hub can
cost log entries (counted, reported in the stats as `dropped_logs`) but never a request.

A `Shipper` thread takes what is queued every `flush_s` seconds (sooner when `batch_rows` are
waiting), masks the inputs of personal-data columns (Policy.masked_columns), turns the entries
into one Arrow table with the columns of `BATCH_COLUMNS` and ships it with
`client.predictions.ship`. A batch that fails to reach the hub is retried with backoff under
the same batch id (the hub stores each (gateway, batch) once, so a retry never duplicates
rows); a batch the hub refuses (bad input, no permission) is dropped and counted.

Loss window: the log is in memory only. When the gateway process dies without a clean
shutdown (`kill -9`, out of memory, power loss) the entries not yet shipped are lost: at most
what was logged in the last `flush_s` seconds (1 s by default), plus the batch in flight and
whatever queued while the hub was unreachable (at most `capacity` entries). Every batch the hub
acknowledged is kept. A clean stop (SIGTERM, Ctrl-C) ships what is queued first, for up to
`drain_s` seconds.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from tandem.errors import RateLimited, ServerError, TandemError, TransportError
from tandem.predictions.models import BATCH_COLUMNS, MAX_BATCH_BYTES, MAX_BATCH_ROWS

log = logging.getLogger(__name__)

# (request_id, at_ms, deployment, model, version, status, latency_ms, inputs_json, output_json);
# inputs and output are JSON text (str or the bytes orjson makes).
Entry = tuple[str, int, str, str, int, int, float, "str | bytes", "str | bytes"]

MASK = "***"  # what a masked input value becomes in the log
DEFAULT_CAPACITY = 100_000  # entries held at most (a one-row entry is a few hundred bytes)
DEFAULT_BATCH_ROWS = 10_000
# A batch the hub might refuse as too large is split well before the hub's limits.
_BATCH_ROWS_LIMIT = min(MAX_BATCH_ROWS, 50_000)
_BATCH_BYTES_LIMIT = MAX_BATCH_BYTES // 2
# Failures worth retrying: the hub is down, overloaded or restarting.
TRANSIENT = (TransportError, ServerError, RateLimited)


class PredictionLog:
    """A bounded queue of prediction-log entries that never blocks the request path.

    Args:
        capacity: entries held at most; further entries are dropped and counted.
        sampling: share of entries kept (0..1); Policy.sampling sets it.
        masked_columns: input columns whose values are masked when shipped.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        sampling: float = 1.0,
        masked_columns: Iterable[str] = (),
    ) -> None:
        self.capacity = capacity
        self.sampling = sampling
        self.masked_columns: frozenset[str] = frozenset(masked_columns)
        # deque.append and popleft are atomic under the GIL: the request path takes no lock.
        self._queue: collections.deque[Entry] = collections.deque()
        self._dropped: collections.Counter[str] = collections.Counter()
        self._dropped_lock = threading.Lock()
        self._random = random.random
        self.wakeup = threading.Event()  # set when a batch's worth is waiting
        self.batch_rows = DEFAULT_BATCH_ROWS

    def configure(self, *, sampling: float, masked_columns: Iterable[str]) -> None:
        """Apply an endpoint's logging settings (from its Policy)."""
        self.sampling = sampling
        self.masked_columns = frozenset(masked_columns)

    def log(self, entry: Entry) -> None:
        """Queue one entry (request path: never blocks, never raises)."""
        sampling = self.sampling
        if sampling < 1.0 and self._random() >= sampling:
            return
        queue = self._queue
        if len(queue) >= self.capacity:
            self._count_dropped(entry[2], 1)
            return
        queue.append(entry)
        if len(queue) >= self.batch_rows:
            self.wakeup.set()

    def _count_dropped(self, deployment: str, count: int) -> None:
        with self._dropped_lock:
            self._dropped[deployment] += count

    def pending(self) -> int:
        return len(self._queue)

    def take(self, limit: int) -> list[Entry]:
        """Up to `limit` entries, oldest first, removed from the queue."""
        queue, taken = self._queue, []
        popleft = queue.popleft
        for _ in range(min(limit, len(queue))):
            taken.append(popleft())
        return taken

    def drop(self, entries: Sequence[Entry]) -> None:
        """Count entries that were taken but could not be stored as dropped."""
        counts = collections.Counter(entry[2] for entry in entries)
        with self._dropped_lock:
            self._dropped.update(counts)

    def take_dropped(self) -> dict[str, int]:
        """Entries dropped per deployment since the last call (for the stats report)."""
        with self._dropped_lock:
            dropped, self._dropped = dict(self._dropped), collections.Counter()
        return dropped


# -- Arrow batches ---------------------------------------------------------------------------


def batch_schema() -> Any:
    """The Arrow schema of a shipped batch: the columns of `BATCH_COLUMNS`, in order."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "int32": pa.int32(),
        "float64": pa.float64(),
    }
    return pa.schema([(name, types[kind.split(" ", 1)[0]]) for name, kind in BATCH_COLUMNS.items()])


def to_arrow(entries: Sequence[Entry], masked_columns: frozenset[str] = frozenset()) -> Any:
    """One Arrow table of `entries`, their inputs masked (`masked_columns`)."""
    import pyarrow as pa

    schema = batch_schema()
    columns: list[list[Any]] = [list(column) for column in zip(*entries, strict=True)]
    if not columns:
        return schema.empty_table()
    for index in (7, 8):  # inputs, output: JSON text
        columns[index] = [_text(value) for value in columns[index]]
    if masked_columns:
        columns[7] = [mask_inputs(text, masked_columns) for text in columns[7]]
    return pa.Table.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _text(value: str | bytes | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return bytes(value).decode("utf-8", errors="replace")


def mask_inputs(text: str | None, masked_columns: frozenset[str]) -> str | None:
    """The JSON `text` of a request's inputs with the values of `masked_columns` replaced by
    `MASK`, in every shape the gateway accepts: records (`[{"age": 3}]`), split
    (`{"columns": [...], "data": [[...]]}`), columns (`{"age": [3]}`) and the Open Inference
    Protocol's named tensors (`[{"name": "age", "data": [...]}]`). Text that is not JSON is
    dropped whole: it might hold anything."""
    if text is None:
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return MASK
    return orjson.dumps(_mask(data, masked_columns)).decode()


def _mask(data: Any, masked: frozenset[str]) -> Any:
    if isinstance(data, list):
        return [_mask(item, masked) for item in data]
    if not isinstance(data, dict):
        return data
    columns = data.get("columns")
    if isinstance(columns, list) and isinstance(data.get("data"), list):  # split
        hidden = {i for i, name in enumerate(columns) if name in masked}
        rows = [
            [MASK if i in hidden else value for i, value in enumerate(row)]
            if isinstance(row, list)
            else row
            for row in data["data"]
        ]
        return {**{k: _mask(v, masked) for k, v in data.items() if k != "data"}, "data": rows}
    if data.get("name") in masked and "data" in data:  # an Open Inference Protocol tensor
        return {**data, "data": MASK}
    return {key: (MASK if key in masked else _mask(value, masked)) for key, value in data.items()}


# -- the shipper -----------------------------------------------------------------------------

ShipBatch = Callable[[Any, str], object]
"""Ships one Arrow table under a batch id (e.g. `client.predictions.ship` bound to the
endpoint and gateway); raises a `TandemError` when the hub does not store it."""


class Shipper:
    """Ships the log's entries to the hub in Arrow batches, from a thread of its own.

    Args:
        predlog: the queue to ship from.
        ship: sends one batch (see `ShipBatch`).
        flush_s: an entry waits at most this long before its batch is sent.
        batch_rows: send sooner when this many entries wait; rows per batch at most.
        max_backoff_s: the longest wait between retries while the hub is unreachable.
    """

    def __init__(
        self,
        predlog: PredictionLog,
        ship: ShipBatch,
        *,
        flush_s: float = 1.0,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        max_backoff_s: float = 30.0,
        name: str = "tandem-predlog",
    ) -> None:
        self.predlog = predlog
        self._ship = ship
        self.flush_s = flush_s
        self.batch_rows = min(batch_rows, _BATCH_ROWS_LIMIT)
        predlog.batch_rows = self.batch_rows
        self.max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._prefix = uuid.uuid4().hex[:12]  # batch ids unique across restarts
        self._sequence = 0
        self._drain_deadline = math.inf  # set by stop()
        self.shipped_rows = 0
        self.shipped_batches = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Ship what is queued (for up to `drain_s` seconds), then stop the thread."""
        self._drain_deadline = time.monotonic() + drain_s
        self._stop.set()
        self.predlog.wakeup.set()
        self._thread.join(drain_s + 1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.predlog.wakeup.wait(self.flush_s)
            self.predlog.wakeup.clear()
            while not self._stop.is_set() and self.predlog.pending():
                self._ship_one(self.predlog.take(self.batch_rows))
                if self.predlog.pending() < self.batch_rows:
                    break  # the rest waits for the next flush
        while self.predlog.pending() and time.monotonic() < self._drain_deadline:
            self._ship_one(self.predlog.take(self.batch_rows))
        self.predlog.drop(self.predlog.take(self.predlog.pending()))

    def _ship_one(self, entries: list[Entry]) -> None:
        """Send `entries` as one batch (split if too large), retrying while the hub is
        unreachable; entries the hub refuses are counted as dropped."""
        if not entries:
            return
        table = to_arrow(entries, self.predlog.masked_columns)
        if table.nbytes > _BATCH_BYTES_LIMIT and len(entries) > 1:
            half = len(entries) // 2
            self._ship_one(entries[:half])
            self._ship_one(entries[half:])
            return
        self._sequence += 1
        batch = f"{self._prefix}-{self._sequence}"
        delay = 0.25
        while True:
            try:
                self._ship(table, batch)
            except TRANSIENT as exc:
                left = self._drain_deadline - time.monotonic()  # inf until stop()
                if left <= 0:
                    log.warning("prediction log: %d entries not shipped: %s", len(entries), exc)
                    self.predlog.drop(entries)
                    return
                log.warning("prediction log: batch %s not shipped, retrying: %s", batch, exc)
                if self._stop.is_set():  # draining: retry until the deadline
                    time.sleep(min(delay, left))
                else:
                    self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            except TandemError as exc:  # refused: retrying would not help
                log.error("prediction log: batch %s refused, %d entries dropped: %s",
                          batch, len(entries), exc)  # fmt: skip
                self.predlog.drop(entries)
                return
            except Exception:  # never let the log's thread die: the gateway keeps serving
                log.exception("prediction log: batch %s failed", batch)
                self.predlog.drop(entries)
                return
            self.shipped_rows += len(entries)
            self.shipped_batches += 1
            return
