"""Dataset profiles: one streaming pass over a table gives, per column, its type, null count,
distinct count, min, max, mean, standard deviation, quantiles, a histogram and the most frequent
values, as a mergeable sketch: the profiles of parts merge into the profile of the whole.

How each column is summarised (see `sketches` for the summaries themselves):

* While a column has at most `COUNTS_CAP` distinct values its values are counted exactly, so
  its distinct count, top values, quantiles, histogram and drift statistics are exact.
* Beyond that it keeps a quantile summary (numbers and times), a HyperLogLog (distinct count,
  1.6 % standard error) and a frequent-values summary (top values, estimated counts).
* Count, nulls, NaNs, min, max, mean and standard deviation are always exact (merged with
  Chan's update, so up to float rounding).

Numbers and times (dates, datetimes, durations, times of day, over their integer
representation) are numeric; booleans and strings (categoricals and enums as strings) are
counted as categories, strings also get length statistics. Other types (lists, structs, binary)
get counts and nulls only.

Strings longer than `MAX_VALUE_CHARS` are counted, stored and shown as `bound_value` gives them:
their beginning, "…" and a hash of the whole value, so a column of megabyte cells keeps its
profile small while distinct values stay distinct and match across versions (drift).

    profile = profile_table(paths, TableFormat.PARQUET)     # bounded memory, any size
    whole = merge_profiles([profile_a, profile_b])          # parts -> whole
    stored = profile.to_json(); Profile.from_json(stored)   # summary for display + sketches
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from blake3 import blake3

from tandem.core.executor import Executor, executor_named
from tandem.data import frames, limits
from tandem.data.frames import TableFormat
from tandem.data.limits import Budget, check_budget, current_budget
from tandem.data.sketches import (
    F64,
    I64,
    U64,
    FrequentValues,
    HyperLogLog,
    Moments,
    QuantileSummary,
    add_counts,
    count_values,
    hash_floats,
    hash_ints,
    hash_strings,
    json_number,
    pack,
    unpack,
    weighted_quantiles,
)
from tandem.errors import InvalidInput

PROFILE_FORMAT = "tandem.profile/1"
COUNTS_CAP = 1_000  # distinct values counted exactly per column (exact top values and drift)
_DISTINCT_PROBE = 8_192  # rows sampled to tell a high-cardinality batch before counting it
TOP_VALUES = 10  # most frequent values in the summary (all of them when there are <= 20)
TOP_ALL_BELOW = 20
HISTOGRAM_BINS = 20
MAX_VALUE_CHARS = 200  # longest string kept as is in a profile; see `bound_value`
_HASH_CHARS = 16  # hex digits of BLAKE3 that stand for the rest of a longer string
_PREFIX_CHARS = MAX_VALUE_CHARS - _HASH_CHARS - 1
SUMMARY_QUANTILES = {
    "p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99
}  # fmt: skip


class Kind(StrEnum):
    """How a column is summarised."""

    NUMERIC = "numeric"  # numbers, and dates/times over their integer representation
    CATEGORICAL = "categorical"  # strings and booleans: value counts, no order
    OTHER = "other"  # nested and binary types: counts and nulls only


# -- column profiles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    """The mergeable profile of one column.

    `type` is the logical type (integer, float, boolean, string, categorical, date, datetime,
    duration, time, other) and `dtype` the Polars type as read; `temporal` is set for dates and
    times and says how to display their integer values (`date`, `datetime`, `duration`, `time`),
    with `unit` (ns/us/ms; days for dates) and `time_zone`.
    """

    name: str
    dtype: str
    type: str
    kind: Kind
    rows: int = 0
    nulls: int = 0
    nans: int = 0
    infinities: int = 0  # +-inf: counted, and left out of the statistics like NaN
    moments: Moments = field(default_factory=Moments)  # of values; of lengths for strings
    counts: pl.DataFrame | None = None  # exact `value`/`count` while <= COUNTS_CAP values
    quantiles: QuantileSummary | None = None  # numeric columns beyond COUNTS_CAP values
    hll: HyperLogLog | None = None  # beyond COUNTS_CAP values
    frequent: FrequentValues | None = None  # beyond COUNTS_CAP values
    temporal: str | None = None
    unit: str | None = None
    time_zone: str | None = None

    # -- statistics ------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Non-null values (NaN and infinities count as values; they are also counted in `nans`
        and `infinities`, and left out of every other statistic)."""
        return self.rows - self.nulls

    @property
    def is_exact(self) -> bool:
        """Whether every value is counted exactly (at most `COUNTS_CAP` distinct values)."""
        return self.counts is not None

    @property
    def distinct(self) -> int:
        """Distinct non-null values other than NaN: exact while `is_exact`, else estimated."""
        if self.counts is not None:
            return self.counts.height
        return round(self.hll.estimate()) if self.hll is not None else 0

    def distribution(self) -> tuple[F64, I64, float] | None:
        """Numeric columns: the distribution as sorted values (floats; integer representation
        for times) with weights, and its normalised rank error bound (0 when exact)."""
        if self.kind is not Kind.NUMERIC:
            return None
        if self.counts is not None:
            values = self.counts["value"].cast(pl.Float64).to_numpy()
            return values, self.counts["count"].to_numpy().astype(np.int64), 0.0
        summary = self.quantiles or QuantileSummary.empty()
        return summary.values, summary.weights, summary.error

    def category_counts(self) -> tuple[pl.DataFrame, bool]:
        """Value counts (`value`, `count`) and whether they are exact (else the estimated
        counts of the most frequent values only)."""
        if self.counts is not None:
            return self.counts, True
        if self.frequent is not None:
            return self.frequent.counts, False
        return pl.DataFrame(schema={"value": pl.String, "count": pl.Int64}), True

    def quantile(self, probabilities: Sequence[float]) -> list[float]:
        """Quantiles (NumPy's linear method) of a numeric column, as floats (integer
        representation for times): exact while `is_exact`, else from the quantile summary."""
        dist = self.distribution()
        if dist is None:
            raise InvalidInput(f"column {self.name!r} is not numeric: it has no quantiles")
        values, weights, _ = dist
        return [float(v) for v in weighted_quantiles(values, weights, np.asarray(probabilities))]

    def histogram(self, bins: int = HISTOGRAM_BINS) -> tuple[F64, I64] | None:
        """Equal-width bins from min to max (the last bin includes max) and their counts:
        exact while `is_exact`, else each count is within `error * count` of the truth."""
        dist = self.distribution()
        if dist is None or self.moments.n == 0:
            return None
        low, high = self.moments.min, self.moments.max
        if not (math.isfinite(low) and math.isfinite(high)):
            return None
        edges = np.linspace(low, high, bins + 1) if high > low else np.array([low, high])
        values, weights, _ = dist
        cumulative = np.r_[0, np.cumsum(weights)]
        # values below each inner edge; the last bin is closed (numpy.histogram's convention)
        below = cumulative[np.searchsorted(values, edges[1:-1], side="left")]
        counts = np.diff(np.r_[0, below, cumulative[-1]]).astype(np.int64)
        return edges, counts

    # -- merging ---------------------------------------------------------------------------

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of this column's values followed by `other`'s."""
        if self.dtype == "Null" and other.dtype != "Null":
            return replace(other, rows=self.rows + other.rows, nulls=self.nulls + other.nulls)
        if other.dtype == "Null" and self.dtype != "Null":
            return replace(self, rows=self.rows + other.rows, nulls=self.nulls + other.nulls)
        if self.kind is not other.kind or self.temporal != other.temporal:
            raise InvalidInput(
                f"cannot merge profiles: column {self.name!r} is {self.dtype} in one part and "
                f"{other.dtype} in another; read the parts with one schema"
            )
        merged = replace(
            self,
            dtype=_join_names(self.dtype, other.dtype),
            type=self.type if self.type == other.type else _wider_type(self.type, other.type),
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            nans=self.nans + other.nans,
            infinities=self.infinities + other.infinities,
            moments=self.moments.merge(other.moments),
        )
        if self.kind is Kind.OTHER:
            return merged
        if self.counts is not None and other.counts is not None:
            counts = add_counts(self.counts, other.counts)
            if counts.height <= COUNTS_CAP:
                return replace(merged, counts=counts)
            return _to_sketches(replace(merged, counts=counts))
        a, b = _to_sketches(self), _to_sketches(other)
        assert a.hll is not None and b.hll is not None
        assert a.frequent is not None and b.frequent is not None
        quantiles = None
        if a.quantiles is not None and b.quantiles is not None:
            quantiles = a.quantiles.merge(b.quantiles)
        return replace(
            merged,
            counts=None,
            hll=a.hll.merge(b.hll),
            frequent=a.frequent.merge(b.frequent),
            quantiles=quantiles,
        )

    # -- display ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The display form: plain JSON numbers and strings (times as ISO 8601), no sketches."""
        out: dict[str, Any] = {
            "type": self.type,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
            "null_share": self.nulls / self.rows if self.rows else 0.0,
        }
        if self.nans:
            out["nans"] = self.nans
        if self.infinities:
            out["infinities"] = self.infinities
        if self.kind is Kind.OTHER:
            return out
        out["distinct"] = self.distinct
        out["distinct_exact"] = self.is_exact
        m = self.moments
        if self.kind is Kind.NUMERIC and m.n:
            out["min"] = self.show(m.min)
            out["max"] = self.show(m.max)
            out["mean"] = self.show(m.mean, exact=False)
            out["std"] = self._show_spread(m.std)
            probabilities = list(SUMMARY_QUANTILES.values())
            out["quantiles"] = {
                name: self.show(value, exact=False)
                for name, value in zip(SUMMARY_QUANTILES, self.quantile(probabilities), strict=True)
            }
            out["quantiles_exact"] = self.is_exact
            hist = self.histogram()
            if hist is not None:
                edges, counts = hist
                out["histogram"] = {
                    "edges": [self.show(float(e), exact=False) for e in edges],
                    "counts": [int(c) for c in counts],
                    "exact": self.is_exact,
                }
        elif self.type in ("string", "categorical") and m.n:
            out["length"] = {"min": int(m.min), "max": int(m.max), "mean": m.mean, "std": m.std}
        values, exact = self.category_counts()
        ordered = values.sort(["count", "value"], descending=[True, False], nulls_last=True)
        limit = TOP_ALL_BELOW if exact and values.height <= TOP_ALL_BELOW else TOP_VALUES
        out["top"] = [
            [self._show_key(value), int(count)] for value, count in ordered.head(limit).iter_rows()
        ]
        out["top_exact"] = exact
        return out

    def show(self, value: float, exact: bool = True) -> Any:
        """A value of this column as the summary shows it: times as ISO 8601, integers as
        int (with `exact`), infinities as strings."""
        if not math.isfinite(value):
            return json_number(value)
        if self.temporal is not None:
            return _show_time(value, self.temporal, self.unit, self.time_zone)
        if exact and self.type == "integer" and abs(value) < 2**63:
            return int(value)
        return value

    def _show_spread(self, value: float) -> Any:
        if self.temporal is not None and math.isfinite(value):
            return str(_to_timedelta(value, self.unit))
        return json_number(value)

    def _show_key(self, value: Any) -> Any:
        if self.temporal is not None and value is not None:
            return _show_time(float(value), self.temporal, self.unit, self.time_zone)
        if isinstance(value, float):
            return json_number(value)
        return value

    # -- serialisation ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What `from_state` needs to rebuild this profile (sketches packed as base64)."""
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "type": self.type,
            "kind": self.kind.value,
            "rows": self.rows,
            "nulls": self.nulls,
            "nans": self.nans,
            "infinities": self.infinities,
            "moments": self.moments.to_json(),
        }
        if self.temporal is not None:
            out |= {"temporal": self.temporal, "unit": self.unit, "time_zone": self.time_zone}
        if self.counts is not None:
            out["counts"] = _counts_json(self.counts)
        if self.quantiles is not None:
            out["quantiles"] = self.quantiles.to_json()
        if self.hll is not None:
            out["hll"] = self.hll.to_json()
        if self.frequent is not None:
            out["frequent"] = _counts_json(self.frequent.counts) | {"error": self.frequent.error}
        return out

    @classmethod
    def from_state(cls, name: str, data: dict[str, Any]) -> ColumnProfile:
        kind = Kind(data["kind"])
        key_dtype = _key_dtype(kind, str(data["type"]))

        def frame(part: dict[str, Any]) -> pl.DataFrame:
            counts = _counts_from_json(part, key_dtype)
            # profiles stored before strings were bounded: bound them alike, so they compare
            if key_dtype == pl.String and counts.height:
                counts = counts.with_columns(_bound_strings(counts["value"]))
            return counts

        return cls(
            name=name,
            dtype=str(data["dtype"]),
            type=str(data["type"]),
            kind=kind,
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            nans=int(data.get("nans", 0)),
            infinities=int(data.get("infinities", 0)),
            moments=Moments.from_json(data["moments"]),
            counts=frame(data["counts"]) if "counts" in data else None,
            quantiles=QuantileSummary.from_json(data["quantiles"]) if "quantiles" in data else None,
            hll=HyperLogLog.from_json(data["hll"]) if "hll" in data else None,
            frequent=(
                FrequentValues(frame(data["frequent"]), int(data["frequent"]["error"]))
                if "frequent" in data
                else None
            ),
            temporal=data.get("temporal"),
            unit=data.get("unit"),
            time_zone=data.get("time_zone"),
        )


def _counts_json(counts: pl.DataFrame) -> dict[str, Any]:
    # Numbers and counts packed as arrays (1,000 integer keys: ~1 KB instead of ~12 KB of JSON);
    # strings and booleans as JSON lists.
    values = counts["value"]
    packed: Any = values.to_list()
    if values.dtype in (pl.Int64, pl.Float64):
        packed = pack(values.to_numpy())
    return {"values": packed, "counts": pack(counts["count"].to_numpy())}


def _counts_from_json(data: dict[str, Any], dtype: type[pl.DataType]) -> pl.DataFrame:
    values = data["values"]
    if dtype == pl.Int64:
        series = pl.Series("value", unpack(values, np.int64), dtype=pl.Int64)
    elif dtype == pl.Float64:
        series = pl.Series("value", unpack(values, np.float64), dtype=pl.Float64)
    else:
        series = pl.Series("value", values, dtype=dtype)
    counts = pl.Series("count", unpack(data["counts"], np.int64), dtype=pl.Int64)
    return pl.DataFrame([series, counts])


# -- table profiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """The mergeable profile of a table: its row count and one `ColumnProfile` per column, in
    the table's column order."""

    rows: int
    columns: dict[str, ColumnProfile]

    def merge(self, other: Profile) -> Profile:
        """The profile of this table's rows followed by `other`'s. A column missing from one
        side counts as all-null there; a column read as a different kind of type in the two
        parts (numbers here, text there) raises `InvalidInput`."""
        columns: dict[str, ColumnProfile] = {}
        for name in [*self.columns, *(n for n in other.columns if n not in self.columns)]:
            a, b = self.columns.get(name), other.columns.get(name)
            if a is not None and b is not None:
                columns[name] = a.merge(b)
            elif a is not None:
                columns[name] = replace(a, rows=a.rows + other.rows, nulls=a.nulls + other.rows)
            elif b is not None:
                columns[name] = replace(b, rows=b.rows + self.rows, nulls=b.nulls + self.rows)
        return Profile(self.rows + other.rows, columns)

    def summary(self) -> dict[str, Any]:
        """Display form: ``{"rows", "columns": {name: {type, dtype, count, nulls, null_share,
        distinct, distinct_exact, min, max, mean, std, quantiles: {p01..p99}, histogram:
        {edges, counts, exact}, top: [[value, count], ...], top_exact, length}}}`` (keys a
        column's type has no use for are left out)."""
        return {
            "rows": self.rows,
            "columns": {name: column.summary() for name, column in self.columns.items()},
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: the display summary plus the sketches (`state`) that `from_json`
        reads back and that merge and drift need. About 5 KiB per high-cardinality numeric
        column, less for the others."""
        return {
            "format": PROFILE_FORMAT,
            **self.summary(),
            "state": {name: column.state() for name, column in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """Read back a profile written by `to_json` (the summary is recomputed, not read)."""
        if data.get("format") != PROFILE_FORMAT:
            raise InvalidInput(
                f"not a tandem profile (format {data.get('format')!r}, expected {PROFILE_FORMAT})"
            )
        columns = {
            name: ColumnProfile.from_state(name, state) for name, state in data["state"].items()
        }
        return cls(int(data["rows"]), columns)


def profile_batch(batch: pl.DataFrame) -> Profile:
    """The profile of one in-memory batch of rows (under a time budget, checked between
    columns: `limits.budget`)."""
    columns = {}
    for series in batch.iter_columns():
        check_budget()
        columns[series.name] = _profile_series(series)
    return Profile(batch.height, columns)


def profile_exact(frame: pl.DataFrame) -> Profile:
    """A profile that counts every distinct value of every column exactly, whatever their
    number: what exact drift statistics are computed from. Its size grows with the number of
    distinct values, so it is for comparing frames in memory, not for storing (merging it with
    another profile brings the usual `COUNTS_CAP` back)."""
    return Profile(
        frame.height, {s.name: _profile_series(s, cap=None) for s in frame.iter_columns()}
    )


def profile_batches(batches: Iterable[pl.DataFrame], schema: pl.Schema | None = None) -> Profile:
    """The profile of a stream of batches, in bounded memory: one batch and a logarithmic stack
    of partial profiles at a time. A table with no rows gets the profile of `schema`."""
    merged = _merge_stream(profile_batch(batch) for batch in batches)
    return merged if merged is not None else profile_batch(pl.DataFrame(schema=schema or {}))


def _merge_stream(profiles: Iterable[Profile]) -> Profile | None:
    # Partials merge like a binary counter, so each value goes through O(log parts) summary
    # reductions rather than one per part after it; the order of rows is kept.
    stack: list[tuple[int, Profile]] = []
    for part in profiles:
        level, profile = 0, part
        while stack and stack[-1][0] == level:
            profile = stack.pop()[1].merge(profile)
            level += 1
        stack.append((level, profile))
    if not stack:
        return None
    result = stack.pop()[1]
    while stack:
        result = stack.pop()[1].merge(result)
    return result


def profile_frame(
    frame: pl.DataFrame | pl.LazyFrame, batch_rows: int = frames.BATCH_ROWS
) -> Profile:
    """The profile of a frame; a LazyFrame is streamed in batches of about `batch_rows` rows."""
    if isinstance(frame, pl.LazyFrame):
        schema = frame.collect_schema()
        return profile_batches(frame.collect_batches(chunk_size=batch_rows), schema)
    return profile_batches(
        (frame.slice(offset, batch_rows) for offset in range(0, frame.height, batch_rows)),
        frame.schema,
    )


def profile_table(
    paths: Sequence[Path],
    fmt: TableFormat,
    batch_rows: int = frames.BATCH_ROWS,
    schema: pl.Schema | None = None,
) -> Profile:
    """The profile of the table in `paths`, in one streaming pass with bounded memory.

    Args:
        paths: the table's files, read as one table.
        fmt: their format.
        batch_rows: rows per streamed batch.
        schema: read with these column types instead of inferring them (CSV and JSON lines).

    Raises:
        UnreadableData: a file is not a readable table of that format.
    """
    return _profile_frame_stream(frames.scan_table(paths, fmt, schema), batch_rows)


def _profile_frame_stream(frame: pl.LazyFrame, batch_rows: int) -> Profile:
    merged = _merge_stream(profile_batch(b) for b in frames.iter_frame_batches(frame, batch_rows))
    if merged is None:  # no rows: the profile of the table's columns
        merged = profile_batch(frames.collect(frame.head(0)))
    return merged


def profile_files(
    paths: Sequence[Path],
    fmt: TableFormat,
    executor: Executor | None = None,
    batch_rows: int = frames.BATCH_ROWS,
    part_rows: int = frames.PART_ROWS,
    schema: pl.Schema | None = None,
) -> Profile:
    """The profile of the table in `paths`, one task per part on `executor` (a file, or whole
    row groups of a large Parquet file: `frames.table_parts`), merged in table order. Every
    executor gives the same profile (the parts are profiled and merged the same way); it can
    differ from `profile_table`'s within the sketches' error bounds, because the batches differ.

    CSV and JSON-lines parts are read with the schema of the whole table, so a column reads as
    the same type in every part (as one scan of all the files would read it).

    Args:
        paths: the table's files.
        fmt: their format.
        executor: where to run; `executor_named()` (TANDEM_EXECUTOR) by default.
        batch_rows: rows per streamed batch within a part.
        part_rows: rows of Parquet per part, at least.
        schema: the whole table's schema, when the caller has already read it.

    The active time budget (`limits.budget`) goes with every task, wherever it runs.

    Raises:
        UnreadableData: a file is not a readable table of that format.
        InvalidInput: Parquet files whose columns hold different kinds of types.
        LimitExceeded: the time budget ran out.
    """
    runner = executor or executor_named()
    if fmt is TableFormat.PARQUET:
        schema = None
    elif schema is None:
        schema = frames.read_schema(paths, fmt)
    task = partial(
        _profile_part, fmt=fmt, schema=schema, batch_rows=batch_rows, budget=current_budget()
    )
    return merge_profiles(runner.map(task, frames.table_parts(paths, fmt, part_rows)))


def _profile_part(
    part: frames.TablePart,
    fmt: TableFormat,
    schema: pl.Schema | None,
    batch_rows: int,
    budget: Budget | None = None,
) -> Profile:
    with limits.budget(budget):
        return _profile_frame_stream(frames.scan_part(part, fmt, schema), batch_rows)


def merge_profiles(profiles: Iterable[Profile]) -> Profile:
    """The profile of the parts' rows in order, merged as a balanced tree (so the quantile
    summaries' error grows with the log of the number of parts, not with their number)."""
    merged = _merge_stream(profiles)
    if merged is None:
        raise InvalidInput("no profiles to merge")
    return merged


# -- profiling one column of one batch ---------------------------------------------------------


def _profile_series(series: pl.Series, cap: int | None = COUNTS_CAP) -> ColumnProfile:
    dtype = series.dtype
    name = series.name
    rows, nulls = series.len(), series.null_count()
    base = _describe(name, dtype)
    base = replace(base, rows=rows, nulls=nulls)
    if base.kind is Kind.OTHER:
        return base
    values = series.drop_nulls()
    if base.kind is Kind.NUMERIC:
        nans = infinities = 0
        if base.temporal is not None:
            keys = values.to_physical().cast(pl.Int64)
        elif dtype.is_float():
            is_finite = values.is_finite()
            nans = int(values.is_nan().sum())
            infinities = values.len() - nans - int(is_finite.sum())
            keys = (values.filter(is_finite) if nans or infinities else values).cast(pl.Float64)
        else:
            keys = values.cast(_key_dtype(Kind.NUMERIC, base.type))
        floats = keys.cast(pl.Float64).to_numpy()
        base = replace(base, nans=nans, infinities=infinities, moments=Moments.of(floats))
        return _count_or_sketch(base, keys, floats, cap)
    keys = values if dtype == pl.Boolean else values.cast(pl.String)
    if dtype != pl.Boolean:
        lengths = keys.str.len_chars()
        base = replace(base, moments=Moments.of(lengths.cast(pl.Float64).to_numpy()))
        keys = _bound_strings(keys, lengths)
    return _count_or_sketch(base, keys, None, cap)


def bound_value(text: str) -> str:
    """`text` as a profile counts, stores and shows it: as is up to `MAX_VALUE_CHARS`
    characters, else its first characters, "…" and 16 hex digits of the BLAKE3 hash of the
    whole, `MAX_VALUE_CHARS` characters in all. Deterministic and idempotent, so the same long
    value gets the same key in every part and version, and different ones stay apart."""
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return f"{text[:_PREFIX_CHARS]}…{_digest(text)}"


def _digest(text: str) -> str:
    return str(blake3(text.encode()).hexdigest(length=_HASH_CHARS // 2))


def _bound_strings(keys: pl.Series, lengths: pl.Series | None = None) -> pl.Series:
    """`keys` with the strings longer than `MAX_VALUE_CHARS` replaced by `bound_value`."""
    if lengths is None:
        lengths = keys.str.len_chars()
    is_long = lengths > MAX_VALUE_CHARS
    long = keys.filter(is_long)
    if long.is_empty():
        return keys
    # Hashing in Python costs ~1.2 us per 300-character value here: each distinct value once
    # when they repeat; when they do not, the results go in place (`replace` joins: ~2.5 us).
    distinct = long.unique()
    repeated = 2 * distinct.len() <= long.len()
    texts = distinct if repeated else long
    digests = pl.Series([_digest(text) for text in texts.to_list()], dtype=pl.String)
    bounded = texts.str.slice(0, _PREFIX_CHARS) + "…" + digests
    if repeated:
        return keys.replace(texts, bounded)
    return keys.clone().scatter(is_long.arg_true(), bounded)


def _count_or_sketch(
    base: ColumnProfile, keys: pl.Series, floats: F64 | None, cap: int | None
) -> ColumnProfile:
    if cap is None:
        return replace(base, counts=_count_all(keys))
    if keys.len() > cap:
        # A cheap probe first: counting a million distinct floats exactly costs ~90 ms.
        stride = math.ceil(keys.len() / _DISTINCT_PROBE)
        if keys.gather_every(stride).n_unique() > cap:
            return replace(
                base,
                hll=HyperLogLog.of(_hash(keys, base)),
                frequent=FrequentValues.of(keys),
                quantiles=QuantileSummary.of(floats) if floats is not None else None,
            )
    counts = count_values(keys)
    if counts.height <= cap:
        return replace(base, counts=counts)
    return _to_sketches(replace(base, counts=counts))


def _count_all(keys: pl.Series) -> pl.DataFrame:
    if keys.dtype not in (pl.Int64, pl.Float64):
        return count_values(keys)
    # numbers: sort and run-length, ~4x faster than hashing a million distinct floats
    ordered = np.sort(keys.to_numpy())
    starts = (
        np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        if ordered.size
        else np.empty(0, np.int64)
    )
    counts = np.diff(np.r_[starts, ordered.size]).astype(np.int64)
    return pl.DataFrame(
        [pl.Series("value", ordered[starts], dtype=keys.dtype), pl.Series("count", counts)]
    )


def _to_sketches(column: ColumnProfile) -> ColumnProfile:
    """The same column with its exact counts turned into sketches."""
    if column.counts is None:
        return column
    counts = column.counts
    quantiles = None
    if column.kind is Kind.NUMERIC:
        quantiles = QuantileSummary.of_counts(
            counts["value"].cast(pl.Float64).to_numpy(), counts["count"].to_numpy()
        )
    return replace(
        column,
        counts=None,
        hll=HyperLogLog.of(_hash(counts["value"], column)),
        frequent=FrequentValues.of_counts(counts),
        quantiles=quantiles,
    )


def _hash(keys: pl.Series, column: ColumnProfile) -> U64:
    if keys.dtype == pl.String:
        return hash_strings(keys)
    if keys.dtype == pl.Boolean or column.temporal is not None:
        return hash_ints(keys.cast(pl.Int64).to_numpy())
    return hash_floats(keys.cast(pl.Float64).to_numpy())


def _describe(name: str, dtype: pl.DataType) -> ColumnProfile:
    """An empty profile with the column's name and how its type is summarised."""
    text = str(dtype)
    if dtype == pl.Boolean:
        return ColumnProfile(name, text, "boolean", Kind.CATEGORICAL)
    if dtype.is_integer():
        return ColumnProfile(name, text, "integer", Kind.NUMERIC)
    if dtype.is_float() or dtype.is_decimal():
        return ColumnProfile(name, text, "float", Kind.NUMERIC)
    if dtype == pl.String:
        return ColumnProfile(name, text, "string", Kind.CATEGORICAL)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return ColumnProfile(name, text, "categorical", Kind.CATEGORICAL)
    if isinstance(dtype, pl.Datetime):
        return ColumnProfile(
            name, text, "datetime", Kind.NUMERIC,
            temporal="datetime", unit=dtype.time_unit, time_zone=dtype.time_zone,
        )  # fmt: skip
    if isinstance(dtype, pl.Duration):
        return ColumnProfile(
            name, text, "duration", Kind.NUMERIC, temporal="duration", unit=dtype.time_unit
        )
    if dtype == pl.Date:
        return ColumnProfile(name, text, "date", Kind.NUMERIC, temporal="date", unit="d")
    if dtype == pl.Time:
        return ColumnProfile(name, text, "time", Kind.NUMERIC, temporal="time", unit="ns")
    return ColumnProfile(name, text, "other", Kind.OTHER)


def _key_dtype(kind: Kind, type_: str) -> type[pl.DataType]:
    """The type values are counted as: Int64 for integers and times, Float64 for other numbers
    (also UInt64, whose large values Int64 cannot hold), Boolean or String."""
    if kind is Kind.NUMERIC:
        return (
            pl.Int64 if type_ in ("integer", "date", "datetime", "duration", "time") else pl.Float64
        )
    return pl.Boolean if type_ == "boolean" else pl.String


def _join_names(a: str, b: str) -> str:
    if a == b:
        return a
    return " | ".join(sorted(set(a.split(" | ")) | set(b.split(" | "))))


def _wider_type(a: str, b: str) -> str:
    if {a, b} == {"integer", "float"}:
        return "float"
    return "string" if {a, b} == {"string", "categorical"} else a


# -- showing times -----------------------------------------------------------------------------

_PER_SECOND = {"ns": 1e9, "us": 1e6, "ms": 1e3, "d": 1 / 86_400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_timedelta(value: float, unit: str | None) -> timedelta:
    return timedelta(seconds=value / _PER_SECOND[unit or "us"])


def _show_time(value: float, temporal: str, unit: str | None, time_zone: str | None) -> str:
    """A time's integer representation as ISO 8601: datetimes with a time zone in UTC (`Z`),
    naive ones as the wall-clock time they hold."""
    try:
        span = _to_timedelta(value, unit)
        if temporal == "date":
            return (date(1970, 1, 1) + timedelta(days=math.floor(value))).isoformat()
        if temporal == "datetime":
            moment = (_EPOCH + span).isoformat()
            return moment.replace("+00:00", "Z") if time_zone else moment.removesuffix("+00:00")
        if temporal == "time":
            micros = round(value / _PER_SECOND[unit or "ns"] * 1e6)
            seconds, micro = divmod(micros, 1_000_000)
            return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro).isoformat()
        return str(span)
    except (OverflowError, ValueError):
        return str(value)
