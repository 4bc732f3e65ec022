"""Limits on the data a server reads for someone: no compressed bytes under a plain-text name,
no table wider than `max_columns`, no profile or validation longer than its time budget.

Polars inflates gzip, zlib and zstd transparently, so 149 KiB of gzip named `.csv` would be
profiled as 150 MiB of text; `refuse_disguised` sniffs the first bytes of every file whose name
says plain text. Real compressed files (`.csv.gz`) are versioned as plain files and never
inflated, so they need no cap.

A `Budget` is a wall-clock deadline that the work checks as it goes: between batches and
columns, and while a Polars query runs (`collect` runs it in the background and cancels it at
the deadline), so the work stops rather than running on in a thread nobody waits for.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
import zlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.errors import LimitExceeded

if TYPE_CHECKING:
    import polars as pl

PLAIN_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson"})
# Each signature starts with a byte no UTF-8 text starts with, or is long enough to be certain.
_MAGIC: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"^\x1f\x8b"), "gzip"),
    (re.compile(rb"^\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"^BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2"),
    (re.compile(rb"^\xfd7zXZ\x00"), "xz"),
    (re.compile(rb"^PK(\x03\x04|\x05\x06)"), "zip"),
)
SNIFF_BYTES = 4096
HEADER_BYTES = 16 << 20  # how much of a CSV is read to count its header's columns
POLL_SECONDS = 0.005  # how often a running query is checked against the budget


@dataclass(frozen=True, slots=True)
class DataLimits:
    """What one profile or validation may cost (Settings.max_columns and
    Settings.profile_budget_seconds)."""

    max_columns: int = 2000
    budget_seconds: float = 120.0


def compression_of(path: Path) -> str | None:
    """The compression format `path`'s bytes are in, or None for anything else."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    for pattern, name in _MAGIC:
        if pattern.match(head):
            return name
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        # zlib's two-byte header can be text ("x^"): believe it only if the bytes inflate
        try:
            zlib.decompressobj().decompress(head, 1)
        except zlib.error:
            return None
        return "zlib"
    return None


def refuse_disguised(files: Sequence[tuple[str, Path]]) -> None:
    """Refuse compressed content in a file whose name says plain text.

    Args:
        files: (name in the version, local file) pairs.

    Raises:
        UnreadableData: a file named as text holds compressed bytes.
    """
    from tandem.errors import UnreadableData

    for name, local in files:
        if Path(name).suffix.lower() not in PLAIN_SUFFIXES:
            continue
        kind = compression_of(local)
        if kind is not None:
            raise UnreadableData(
                f"{name} is named as plain text but holds {kind}-compressed data: tandem does "
                f"not inflate disguised archives; add it as {name}.{_suffix(kind)} (stored "
                "as a file, not profiled) or add the uncompressed file",
                path=name,
                compression=kind,
            )


def _suffix(kind: str) -> str:
    return {"gzip": "gz", "bzip2": "bz2", "zstd": "zst", "zlib": "zz"}.get(kind, kind)


def csv_header_columns(path: Path) -> int:
    """The number of columns in a CSV file's header, read from at most HEADER_BYTES (a header
    longer than that counts what was read)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    if b'"' not in line:
        return line.count(b",") + 1
    text = head.decode("utf-8", errors="replace")
    try:
        row = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:  # a field longer than csv's limit: count separators instead
        return line.count(b",") + 1
    return max(len(row), 1)


def check_columns(count: int, limits: DataLimits, what: str) -> None:
    """Refuse a table of more than `limits.max_columns` columns.

    Raises:
        LimitExceeded: naming the limit and the setting that raises it.
    """
    if count > limits.max_columns:
        raise LimitExceeded(
            f"{what} has {count:,} columns, more than the limit of {limits.max_columns:,}: "
            "an administrator can raise it with TANDEM_MAX_COLUMNS",
            limit="max_columns",
            value=limits.max_columns,
            columns=count,
        )


def check_header_columns(paths: Sequence[Path], limits: DataLimits) -> None:
    """Count the CSV files' header columns before any schema inference reads the rows."""
    for path in paths:
        check_columns(csv_header_columns(path), limits, "the table")


# -- the time budget ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Budget:
    """A wall-clock deadline (epoch seconds, so it travels to Ray workers) for `what`."""

    what: str
    seconds: float
    deadline: float

    @classmethod
    def start(cls, what: str, seconds: float) -> Budget:
        return cls(what, seconds, time.time() + seconds)

    def remaining(self) -> float:
        return self.deadline - time.time()

    def check(self) -> None:
        """Raise LimitExceeded once the deadline has passed."""
        if time.time() > self.deadline:
            raise LimitExceeded(
                f"{self.what} took longer than its budget of {self.seconds:g} s and was "
                "stopped: an administrator can raise it with TANDEM_PROFILE_BUDGET_SECONDS",
                limit="profile_budget_seconds",
                value=self.seconds,
            )


_ACTIVE: ContextVar[Budget | None] = ContextVar("tandem_data_budget", default=None)


@contextlib.contextmanager
def budget(active: Budget | None) -> Iterator[Budget | None]:
    """Run the block under `active` (None: no budget), checked by `check_budget` and
    `collect_within`. Work sent to other threads or processes takes the budget along and
    enters it there."""
    token = _ACTIVE.set(active)
    try:
        if active is not None:
            active.check()
        yield active
    finally:
        _ACTIVE.reset(token)


def current_budget() -> Budget | None:
    return _ACTIVE.get()


def check_budget() -> None:
    """Raise LimitExceeded if the active budget has run out (nothing without one)."""
    active = _ACTIVE.get()
    if active is not None:
        active.check()


def collect_within(frame: pl.LazyFrame) -> pl.DataFrame:
    """Collect `frame` with the streaming engine; under a budget, in the background, cancelled
    when the budget runs out (Polars then stops the query's threads)."""
    active = _ACTIVE.get()
    if active is None:
        return frame.collect(engine="streaming")
    active.check()
    query = frame.collect(engine="streaming", background=True)
    while True:
        result = query.fetch()
        if result is not None:
            return result
        if active.remaining() <= 0:
            query.cancel()
            active.check()
        time.sleep(min(POLL_SECONDS, max(active.remaining(), 0.0)))
