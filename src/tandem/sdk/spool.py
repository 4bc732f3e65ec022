"""Buffered logging that never loses what it acknowledged.

Every `log_metric`/`set_tag` appends one line to the run's spool file (one `write(2)`, no fsync:
a `kill -9` of the process cannot lose what the kernel already has) before it returns. A
background thread ships what is pending as batches. Before sending a batch it appends a marker
line with the batch id and the last record it covers; after the server acknowledges, an ack line.

If the process dies, the next `start_run` or `tandem sync` finds the spool (its owner's lock is
gone), resends every marked batch that has no ack under the same id (the server applies each id
at most once), ships the rest, ends the run, and deletes the spool.

A run whose creation the SDK deferred (ADR 19) carries its create request in the header, and
is created with its first shipped batch; `c` records that the server acknowledged it. Recovery
creates such a run first (creating it again is harmless: the SDK chose its id).

    {"v": 1, "run": "8f3a...", "id": "<spool uuid>", "target": "...", "ends": true,
     "create": {"project": "churn", "body": {...}}}                     header (create: deferred)
    {"c": 1}                                                            the run is created
    {"m": [["loss", 0.31, 7, 1732350000000], ...]}                      metric points
    {"t": {"team": "retention"}}                                        tags
    {"b": "<spool uuid>-42", "n": 42}                                    batch of records ..42
    {"a": "<spool uuid>-42"}                                             acknowledged
    {"e": "finished", "at": 1732350000000}                               the run's intended end

`ends` is false for a process attached to someone else's run (`Client.attach_run`): recovering
its spool ships its points but leaves the run to its owner, as leaving the `with` block would.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tandem.errors import Conflict, ServerError, TandemError, TransportError
from tandem.tracking.rules import MAX_BATCH_TAGS

log = logging.getLogger(__name__)

SHIP_INTERVAL = 0.25  # a logged point waits at most this long (seconds) to be shipped
_COURIER_TICK = SHIP_INTERVAL / 4  # how often the courier looks for runs with writes due
SHIP_POINTS = 20_000  # ship early when this many points are pending
MAX_BATCH_POINTS = 50_000

# Sends one batch's body (as `POST /runs/{id}/batch` takes it), or None for no batch: only a
# deferred run's creation is ever sent alone. Raises on error.
SendBatch = Callable[[dict[str, Any] | None], None]


@dataclass
class _Pending:
    metrics: list[list[Any]] = field(default_factory=list)  # [key, value, step, ts]
    tags: dict[str, str] = field(default_factory=dict)
    last_seq: int = 0

    def __bool__(self) -> bool:
        return bool(self.metrics or self.tags)


def batch_body(
    batch_id: str,
    points: list[list[Any]],
    tags: dict[str, str],
    end_status: str | None,
    end_time: int | None,
) -> dict[str, Any]:
    """The JSON body of a spooled batch: points as metric columns, tags, and the run's end."""
    body: dict[str, Any] = {"batch_id": batch_id}
    if points:
        keys, values, steps, stamps = (list(column) for column in zip(*points, strict=True))
        body["metrics"] = {"key": keys, "value": values, "step": steps, "timestamp": stamps}
    if tags:
        body["tags"] = tags
    if end_status:
        body["end_status"] = end_status
        body["end_time"] = end_time
    return body


class SpoolFiles:
    """The spool files of one client, each locked by it while open.

    When a run has shipped everything, its emptied file is kept (locked) for the client's next
    run rather than deleted: creating and deleting a file cost a short run a tenth of its time.
    An empty file left by a dead process is deleted by the next recovery.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._spare: tuple[Path, int] | None = None
        self._lock = threading.Lock()

    def take(self) -> tuple[Path, int]:
        """An empty spool file, locked, open for appending: (path, fd)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            return spare
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{uuid.uuid4().hex}.spool"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
        return path, fd

    def give_back(self, path: Path, fd: int) -> None:
        """Empty a spool whose writes are all shipped, and keep it for the next run (or
        delete it when one is kept already)."""
        os.ftruncate(fd, 0)
        with self._lock:
            if self._spare is None:
                self._spare = (path, fd)
                return
        _delete(path, fd)

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            _delete(*spare)


def _delete(path: Path, fd: int) -> None:
    # Unlink while still holding the lock: whoever takes the lock next sees no links left.
    path.unlink(missing_ok=True)
    os.close(fd)


class Spool:
    """The append-only file of one run's unshipped writes, locked by its owner."""

    def __init__(
        self,
        files: SpoolFiles,
        run_id: str,
        target: str,
        *,
        ends_run: bool = True,
        create: dict[str, Any] | None = None,
    ) -> None:
        self.files = files
        self.run_id = run_id
        self.id = uuid.uuid4().hex
        self.path, self.fd = files.take()
        self.seq = 0
        header = {"v": 1, "run": run_id, "id": self.id, "target": target, "ends": ends_run}
        if create is not None:
            header["create"] = create
        self._write(header)

    def _write(self, record: dict[str, Any]) -> None:
        if self.fd < 0:  # closed: its number may now be another file's
            raise Conflict(
                f"run {self.run_id} has ended in this process: nothing more can be logged to it "
                "here; start a new run, or attach_run to add to this one"
            )
        os.write(self.fd, orjson.dumps(record) + b"\n")

    def append_points(self, points: list[list[Any]]) -> int:
        self._write({"m": points})
        self.seq += 1
        return self.seq

    def append_tags(self, tags: dict[str, str]) -> int:
        self._write({"t": tags})
        self.seq += 1
        return self.seq

    def mark_batch(self, last_seq: int, *, ends_run: bool = False) -> str:
        # The run's end gets an id of its own: it may follow a batch with the same last seq.
        batch_id = f"{self.id}-{last_seq}" + ("-end" if ends_run else "")
        self._write({"b": batch_id, "n": last_seq})
        return batch_id

    def mark_ack(self, batch_id: str) -> None:
        self._write({"a": batch_id})

    def mark_created(self) -> None:
        self._write({"c": 1})

    def mark_end(self, status: str, at: int) -> None:
        self._write({"e": status, "at": at})

    def remove(self) -> None:
        """Everything is shipped: nothing of this run is left to recover."""
        self.files.give_back(self.path, self.fd)
        self.fd = -1

    def release(self) -> None:
        """Close without deleting: what is left is shipped later by `tandem sync`."""
        os.close(self.fd)
        self.fd = -1


class Courier:
    """The one background thread of a client that ships the pending writes of all its runs,
    each within SHIP_INTERVAL of its first unshipped write, or sooner when a run asks: a thread
    per run cost a short run a tenth of its time to start and join."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._shippers: dict[int, Shipper] = {}
        self._unborn: dict[int, Shipper] = {}  # runs whose deferred creation is not yet sent
        self._thread: threading.Thread | None = None

    def register(self, shipper: Shipper) -> None:
        with self._lock:
            self._shippers[id(shipper)] = shipper
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tandem-shipper", daemon=True
                )
                self._thread.start()

    def unregister(self, shipper: Shipper) -> None:
        with self._lock:
            self._shippers.pop(id(shipper), None)

    def expect_creation(self, shipper: Shipper, born: bool) -> None:
        with self._lock:
            if born:
                self._unborn.pop(id(shipper), None)
            else:
                self._unborn[id(shipper)] = shipper

    def create_unborn(self) -> None:
        """Send every deferred creation now: called before any other request of the client,
        so nothing it asks the server about a run can miss the run (ADR 19). A creation that
        fails is the run's error, raised where the run is next used (`end`, `flush`, ...)."""
        if not self._unborn:
            return
        with self._lock:
            unborn = list(self._unborn.values())
        for shipper in unborn:
            with contextlib.suppress(TandemError):
                shipper.ensure_created()

    def nudge(self) -> None:
        with self._lock:
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._shippers:
                    self._wake.wait(timeout=_COURIER_TICK)
                else:
                    self._wake.wait()
                shippers = list(self._shippers.values())
            now = time.monotonic()
            for shipper in shippers:
                shipper.ship_pending(now)


class Shipper:
    """Collects a run's points and tags, spools them, and has its client's courier ship them
    in the background."""

    def __init__(
        self,
        spool: Spool,
        send: SendBatch,
        courier: Courier,
        *,
        retry_for: float = 60.0,
        create: SendBatch | None = None,
    ) -> None:
        """`create`: the run is not yet created on the server (ADR 19); this sends its creation
        together with a batch (or alone, with no batch id). It is shipped within SHIP_INTERVAL
        like a write, with the first batch, or before any other request of the client."""
        self.spool = spool
        self.send = send
        self.courier = courier
        self.retry_for = retry_for
        self._create = create
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._stopping = False
        self._registered = False
        self._pending_since = 0.0  # when the oldest pending write was logged (monotonic)
        self._urgent = False  # ship at the courier's next look, not when due
        self.error: TandemError | None = None
        if create is not None:  # due like a write logged now
            courier.expect_creation(self, born=False)
            self._pending_since = time.monotonic()
            self._registered = True
            courier.register(self)

    # -- called by the user's thread ------------------------------------------------------

    def add_points(self, points: list[list[Any]]) -> None:
        with self._lock:
            self._note_pending()
            self._pending.last_seq = self.spool.append_points(points)
            self._pending.metrics.extend(points)
            if len(self._pending.metrics) >= SHIP_POINTS:
                self._urgent = True
                self.courier.nudge()

    def add_tags(self, tags: dict[str, str]) -> None:
        with self._lock:
            self._note_pending()
            self._pending.last_seq = self.spool.append_tags(tags)
            self._pending.tags.update(tags)

    def _note_pending(self) -> None:
        if not self._pending and self._create is None:  # else due since the creation was
            self._pending_since = time.monotonic()  # shipped at most SHIP_INTERVAL from now
        if not self._registered:
            self._registered = True
            self.courier.register(self)

    def flush(self) -> None:
        """Return once everything logged so far is stored (or raise why it could not be)."""
        with self._lock:
            while (self._pending or self._busy or self._create) and self.error is None:
                self._urgent = True
                self.courier.nudge()
                self._idle.wait(timeout=1.0)
        if self.error is not None:
            raise self.error

    def close(self, end_status: str | None, end_time: int | None) -> None:
        """Stop shipping in the background, then ship what is left together with the run's
        end, in one batch."""
        with self._lock:
            self._stopping = True
            while self._busy:
                self._idle.wait()
        self.courier.unregister(self)
        if end_status is not None and end_time is not None:
            self.spool.mark_end(end_status, end_time)
        if self.error is None:
            with self._lock:
                pending, self._pending = self._pending, _Pending(last_seq=self._pending.last_seq)
            self._ship(pending, end_status, end_time, final=True)
        if self.error is None:
            self.spool.remove()
        else:
            self.spool.release()
            raise self.error

    def ensure_created(self) -> None:
        """Send the run's deferred creation now if it is not sent yet (raise why it failed)."""
        with self._lock:
            while self._busy:
                self._idle.wait()
            if self._create is None or self.error is not None:
                if self.error is not None:
                    raise self.error
                return
            self._busy = True
        try:
            self._ship(_Pending(), None, None, final=False)
        finally:
            with self._lock:
                self._busy = False
                self._idle.notify_all()
        if self.error is not None:
            raise self.error

    # -- the courier's thread -------------------------------------------------------------

    def ship_pending(self, now: float) -> None:
        """Ship what is pending if it is due: waiting SHIP_INTERVAL since the first of it, or
        asked for (flush, SHIP_POINTS). Called by the courier."""
        with self._lock:
            if self._busy:
                return  # ensure_created() is sending from the user's thread
            if self._stopping or self.error is not None or not (self._pending or self._create):
                self._idle.notify_all()
                return
            if not self._urgent and now - self._pending_since < SHIP_INTERVAL:
                return
            pending, self._pending = self._pending, _Pending(last_seq=self._pending.last_seq)
            self._urgent = False
            self._busy = True
        try:
            self._ship(pending, None, None, final=False)
        finally:
            with self._lock:
                self._busy = False
                self._idle.notify_all()

    def _ship(
        self, pending: _Pending, end_status: str | None, end_time: int | None, *, final: bool
    ) -> None:
        if not pending and end_status is None:
            if self._create is not None:
                self._try(
                    lambda: _send_with_retry(self._send_first, None, self.retry_for),
                    "the run's creation",
                )
            return
        batch_id = self.spool.mark_batch(pending.last_seq, ends_run=end_status is not None)
        send = self.send if self._create is None else self._send_first
        if self._try(
            lambda: _send_chunks(
                send, batch_id, pending.metrics, pending.tags, end_status, end_time,
                self.retry_for,
            ),
            f"batch {batch_id}",
        ):  # fmt: skip
            self.spool.mark_ack(batch_id)

    def _try(self, ship: Callable[[], Any], what: str) -> bool:
        """Run `ship`; on failure keep the error for `flush`/`close`, and return False."""
        try:
            ship()
        except TandemError as exc:
            self.error = _kept(exc, self.spool.path)
        except Exception as exc:  # e.g. a database error raised through the embedded app:
            # never let the thread die silently, or flush() would wait for it forever
            self.error = _kept(ServerError(f"could not ship {what}: {exc!r}"), self.spool.path)
        if self.error is not None:
            self.courier.expect_creation(self, born=True)  # nothing more to send for it
            return False
        return True

    def _send_first(self, body: dict[str, Any] | None) -> None:
        """Send with the run's deferred creation while it is not yet acknowledged."""
        create = self._create
        if create is None:
            self.send(body)
            return
        create(body)
        self._create = None
        self.spool.mark_created()
        self.courier.expect_creation(self, born=True)


def _send_chunks(
    send: SendBatch,
    batch_id: str,
    points: list[list[Any]],
    tags: dict[str, str],
    end_status: str | None,
    end_time: int | None,
    retry_for: float,
) -> int:
    """Send one spooled batch, split into chunks the server accepts. Chunk ids derive from the
    batch id, so a resend after a crash repeats exactly the same ids; the run's end goes with
    the last chunk, tags with the last ones (at most MAX_BATCH_TAGS each)."""
    chunks = [points[i : i + MAX_BATCH_POINTS] for i in range(0, len(points), MAX_BATCH_POINTS)]
    items = list(tags.items())
    tag_chunks = [dict(items[i : i + MAX_BATCH_TAGS]) for i in range(0, len(items), MAX_BATCH_TAGS)]
    count = max(len(chunks), len(tag_chunks), 1)
    # both lists end with the last chunk, which carries the run's end
    chunks = [[] for _ in range(count - len(chunks))] + chunks
    tag_chunks = [{} for _ in range(count - len(tag_chunks))] + tag_chunks
    for index, (chunk, tag_chunk) in enumerate(zip(chunks, tag_chunks, strict=True)):
        last = index == count - 1
        body = batch_body(
            batch_id if last else f"{batch_id}.{index}",
            chunk,
            tag_chunk,
            end_status if last else None,
            end_time if last else None,
        )
        _send_with_retry(send, body, retry_for)
    return len(points)


def _kept(exc: TandemError, path: Path) -> TandemError:
    cls = type(exc)
    return cls(
        f"{exc.message}; the unshipped points are kept in {path}: run `tandem sync` to ship them",
        **exc.details,
    )


def _send_with_retry(send: SendBatch, body: dict[str, Any] | None, retry_for: float) -> None:
    """Send, retrying unreachable servers and server errors: the batch id (and a deferred
    run's client-chosen id) makes it idempotent."""
    deadline = time.monotonic() + retry_for
    delay = 0.1
    while True:
        try:
            send(body)
            return
        except (TransportError, ServerError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            what = f"batch {body['batch_id']}" if body else "the run's creation"
            log.warning("retrying %s in %.1fs: %s", what, delay, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


# -- recovery ---------------------------------------------------------------------------------


@dataclass
class Orphan:
    """A spool whose owner died: what it holds, parsed."""

    path: Path
    run_id: str
    spool_id: str
    target: str
    records: list[tuple[int, dict[str, Any]]]  # (seq, record)
    batches: list[tuple[str, int]]  # (batch_id, last seq), in order
    acked: set[str]
    end: tuple[str, int] | None
    last_time: int | None
    ends_run: bool = True  # false: its owner was attached to the run, and did not end it
    create: dict[str, Any] | None = None  # {"project", "body"}: the run's deferred creation
    created: bool = False  # the server acknowledged that creation


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # a torn last line: it was never acknowledged
            with contextlib.suppress(orjson.JSONDecodeError):
                yield orjson.loads(line)


def parse_spool(path: Path) -> Orphan | None:
    lines = _read_lines(path)
    header = next(lines, None)
    if not header or header.get("v") != 1:
        return None
    orphan = Orphan(
        path, header["run"], header["id"], header.get("target", ""), [], [], set(), None, None
    )
    orphan.ends_run = header.get("ends", True)
    orphan.create = header.get("create")
    seq = 0
    for record in lines:
        if "m" in record or "t" in record:
            seq += 1
            orphan.records.append((seq, record))
            for point in record.get("m", ()):
                orphan.last_time = max(orphan.last_time or 0, point[3])
        elif "b" in record:
            orphan.batches.append((record["b"], record["n"]))
        elif "a" in record:
            orphan.acked.add(record["a"])
        elif "e" in record:
            orphan.end = (record["e"], record["at"])
        elif "c" in record:
            orphan.created = True
    return orphan


def try_lock(path: Path) -> int | None:
    """Open and lock a spool if its owner is gone; None if someone holds it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # its owner finished and removed it before we got the lock
        os.close(fd)
        return None
    return fd


def replay(orphan: Orphan, fd: int, send: SendBatch, create: SendBatch | None = None) -> int:
    """Ship everything in an orphaned spool that was not acknowledged; returns points shipped.

    A deferred run whose creation was not acknowledged is created first with `create` (creating
    it again is harmless). A batch marked but not acked is resent under its id (applied at most
    once by the server); records after the last marker are marked and sent as new batches.
    """
    if create is not None and not orphan.created:
        create(None)
        os.write(fd, orjson.dumps({"c": 1}) + b"\n")
    shipped = 0
    start = 0
    spans: list[tuple[str, int, int]] = []
    for batch_id, last in orphan.batches:
        spans.append((batch_id, start, last))
        start = max(start, last)
    final_seq = orphan.records[-1][0] if orphan.records else 0
    if final_seq > start:
        batch_id = f"{orphan.spool_id}-{final_seq}"
        os.write(fd, orjson.dumps({"b": batch_id, "n": final_seq}) + b"\n")
        spans.append((batch_id, start, final_seq))
    for batch_id, first, last in spans:
        if batch_id in orphan.acked or last <= first:
            continue
        points: list[list[Any]] = []
        tags: dict[str, str] = {}
        for seq, record in orphan.records:
            if first < seq <= last:
                points.extend(record.get("m", ()))
                tags.update(record.get("t", {}))
        shipped += _send_chunks(send, batch_id, points, tags, None, None, 30.0)
        os.write(fd, orjson.dumps({"a": batch_id}) + b"\n")
    return shipped
