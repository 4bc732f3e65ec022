"""Mergeable summaries behind dataset profiles: moments, a quantile summary, HyperLogLog and a
frequent-values summary. Each one is built from a batch of values with vectorised NumPy/Polars
work (no per-row Python) and merges with another of its kind into the summary of the union, so
parts of a table can be profiled apart (one task per file) and combined.

Everything here is deterministic: the same rows in the same parts give the same bytes, in any
process. That is why the quantile summary is our own rather than DataSketches' KLL, whose
compactions draw random bits from a per-process seed (two runs over the same data serialise
differently, so a Ray worker's profile could never equal the local one).
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

QUANTILE_POINTS = 512  # points a quantile summary keeps: ~5 KB; each reduction adds <= 0.15 %
HLL_P = 12  # 4,096 registers: standard error 1.04/sqrt(4096) = 1.6 %
FREQUENT_CAPACITY = 64  # counters kept by the frequent-values summary
FREQUENT_SAMPLE = 16_384  # rows of a batch fed to the frequent-values summary (a regular stride)


# -- encoding ----------------------------------------------------------------------------------


def pack(array: npt.NDArray[Any]) -> str:
    """An array as compact base64: bytes transposed (so the similar high bytes of sorted numbers
    sit together) and deflated. Sorted float64s shrink by about a third, counts by far more."""
    raw = np.ascontiguousarray(array)
    shuffled = raw.view(np.uint8).reshape(-1, raw.itemsize).T.tobytes()
    return base64.b64encode(zlib.compress(shuffled, 6)).decode("ascii")


def unpack(text: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    itemsize = np.dtype(dtype).itemsize
    raw = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    return np.ascontiguousarray(raw.reshape(itemsize, -1).T).view(dtype).reshape(-1)


def json_number(value: float) -> float | str:
    """A float as JSON allows it: infinities and NaN as strings (`float()` reads them back)."""
    return value if math.isfinite(value) else str(value)


# -- moments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, mean, sum of squared deviations (M2), min and max: merged with Chan et al.'s
    pairwise update, so the mean and standard deviation of merged parts equal the whole's up to
    float rounding."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, values: F64) -> Moments:
        n = int(values.size)
        if n == 0:
            return cls()
        mean = float(values.mean())
        centred = values - mean
        # NumPy's own pairwise sum, not np.dot: BLAS sums in an order that depends on its
        # thread count, so a Ray worker (one thread) would differ from this process in the
        # last bits, and distributed profiles would not equal local ones exactly.
        m2 = float(np.square(centred, out=centred).sum())
        return cls(n, mean, m2, float(values.min()), float(values.max()))

    def merge(self, other: Moments) -> Moments:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return Moments(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1), as pandas and Polars report it."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    @property
    def population_std(self) -> float:
        """Population standard deviation (ddof=0), as `numpy.std` computes it."""
        return math.sqrt(self.m2 / self.n) if self.n > 0 else 0.0

    def to_json(self) -> list[float | str]:
        return [self.n, *(json_number(v) for v in (self.mean, self.m2, self.min, self.max))]

    @classmethod
    def from_json(cls, data: list[Any]) -> Moments:
        return cls(int(data[0]), *(float(v) for v in data[1:5]))


# -- quantile summary --------------------------------------------------------------------------


def _chunk_targets(total: float, points: int) -> F64:
    # Chunk boundaries in rank on the arcsine scale (t-digest's k1): chunks are narrow in the
    # tails, where p01/p99 and the outer PSI bins need them, and at most pi/(2*points) wide.
    j = np.arange(points + 1, dtype=np.float64)
    return np.asarray(total * (1.0 - np.cos(np.pi * j / points)) / 2.0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class QuantileSummary:
    """A weighted sample standing for a distribution: sorted `values` with integer `weights`
    (their sum is the number of values summarised) and `error`, a bound on the normalised rank
    error: for every x, |F_summary(x) - F_data(x)| <= error, where F is the fraction of values
    <= x. Exact (error 0) while it holds at most `QUANTILE_POINTS` distinct points.

    Reducing groups consecutive points into chunks of bounded rank width (at most pi/(2*512) of
    the total) and keeps each chunk's weighted median with the chunk's total weight; the CDF then
    moves only inside one chunk at any x, by at most the weight on the wider side of its median,
    which the reduction adds to `error` (<= 0.15 %). Merging two summaries keeps the larger of
    their errors (the merged CDF is their weighted average) before reducing. Merge in a balanced
    tree (`profile` does) and the bound grows with the log of the number of parts: ~0.3 % for a
    single batch, ~0.6 % for a million rows in four batches, ~1.5 % for a billion."""

    values: F64
    weights: I64
    error: float = 0.0

    @classmethod
    def empty(cls) -> QuantileSummary:
        return cls(np.empty(0, np.float64), np.empty(0, np.int64))

    @classmethod
    def of(cls, values: F64) -> QuantileSummary:
        """The summary of a batch of values (NaN-free)."""
        ordered = np.sort(values)
        n = ordered.size
        if n <= QUANTILE_POINTS:
            return cls(ordered, np.ones(n, np.int64))
        # Unit weights: value i (0-based) has its middle at i + 0.5, so chunk j starts at the
        # first i with i + 0.5 >= target j. Found from the targets alone, with no pass over n.
        starts = np.unique(np.ceil(_chunk_targets(n, QUANTILE_POINTS)[:-1] - 0.5).astype(np.int64))
        starts = starts[(starts >= 0) & (starts < n)]
        if starts[0] != 0:
            starts = np.r_[0, starts]
        weights = np.diff(np.r_[starts, n]).astype(np.int64)
        median = starts + (weights - 1) // 2  # the lower middle, as searchsorted finds it below
        # the CDF moves by at most the values on the wider side of a chunk's median
        return cls(ordered[median], weights, float((weights - 1 - (weights - 1) // 2).max()) / n)

    @classmethod
    def of_counts(cls, values: F64, counts: I64) -> QuantileSummary:
        """The summary of exact value counts (one point per distinct value)."""
        order = np.argsort(values, kind="stable")
        return cls._reduce(values[order], counts[order].astype(np.int64), 0.0)

    @property
    def n(self) -> int:
        return int(self.weights.sum())

    def merge(self, other: QuantileSummary) -> QuantileSummary:
        if other.values.size == 0:
            return self
        if self.values.size == 0:
            return other
        values = np.concatenate([self.values, other.values])
        weights = np.concatenate([self.weights, other.weights])
        order = np.argsort(values, kind="stable")
        return self._reduce(values[order], weights[order], max(self.error, other.error))

    @classmethod
    def _reduce(cls, values: F64, weights: I64, error: float) -> QuantileSummary:
        if values.size <= QUANTILE_POINTS:
            return cls(values, weights, error)
        cumulative = np.cumsum(weights)
        total = int(cumulative[-1])
        # Each point joins the chunk its middle falls in (weights are never split).
        middle = cumulative - weights / 2.0
        targets = _chunk_targets(total, QUANTILE_POINTS)
        chunk = np.searchsorted(targets, np.asarray(middle, dtype=np.float64), side="right")
        starts = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]])
        chunk_weights = np.add.reduceat(weights, starts)
        before = np.r_[0, cumulative][starts]
        median = np.searchsorted(cumulative, before + chunk_weights / 2.0, side="left")
        # Standing for a chunk by its median moves the CDF, inside that chunk, by at most the
        # weight on the wider side of the median: about half a chunk, pi/(4*points) = 0.15 %.
        below = cumulative[median] - weights[median] - before
        above = before + chunk_weights - cumulative[median]
        moved = float(max(below.max(), above.max())) / total
        return cls(values[median], chunk_weights.astype(np.int64), error + moved)

    def cdf(self, points: F64, strict: bool = False) -> F64:
        """Fraction of values <= each point (< with `strict`)."""
        if self.values.size == 0:
            return np.zeros(np.shape(points), np.float64)
        cumulative = np.r_[0, np.cumsum(self.weights)]
        index = np.searchsorted(self.values, points, side="left" if strict else "right")
        return np.asarray(cumulative[index] / cumulative[-1], dtype=np.float64)

    def quantiles(self, probabilities: F64) -> F64:
        """Linear-interpolation quantiles (NumPy's default method) of the summarised values."""
        return weighted_quantiles(self.values, self.weights, probabilities)

    def to_json(self) -> dict[str, Any]:
        return {"values": pack(self.values), "weights": pack(self.weights), "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuantileSummary:
        values = unpack(data["values"], np.float64).astype(np.float64)
        weights = unpack(data["weights"], np.int64).astype(np.int64)
        return cls(values, weights, float(data["error"]))


def weighted_quantiles(values: F64, weights: I64 | F64, probabilities: F64) -> F64:
    """Quantiles by NumPy's default (linear) method of the multiset where each of the sorted
    `values` occurs `weights` times: the value at position h = (n - 1) p in sorted order,
    interpolated between the order statistics either side."""
    if values.size == 0:
        return np.full(np.shape(probabilities), np.nan)
    cumulative = np.cumsum(weights)
    position = (cumulative[-1] - 1) * np.asarray(probabilities, dtype=np.float64)
    below = np.floor(position)
    # order statistic k (0-based) is the first value whose cumulative count exceeds k
    low = values[np.minimum(np.searchsorted(cumulative, below, side="right"), values.size - 1)]
    high = values[np.minimum(np.searchsorted(cumulative, below + 1, side="right"), values.size - 1)]
    return np.asarray(low + (position - below) * (high - low), dtype=np.float64)


# -- hashing and HyperLogLog -------------------------------------------------------------------

_SEED = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BYTE_BASE = np.uint64(0x100000001B3)  # FNV's 64-bit prime, as the polynomial base for bytes


def _mix(x: U64) -> U64:
    # SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def hash_floats(values: F64) -> U64:
    """Stable 64-bit hashes of numbers (as float64, so 3 and 3.0 agree; -0.0 is 0.0)."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    return _mix(bits ^ _SEED)


def hash_ints(values: I64) -> U64:
    """Stable 64-bit hashes of integers (the physical values of dates and times)."""
    return _mix(np.asarray(values, dtype=np.int64).view(np.uint64) ^ _SEED)


_HASH_BYTES_PER_CHUNK = 1 << 22  # bound the per-byte temporaries (8 bytes each) to ~32 MiB


def hash_strings(series: pl.Series) -> U64:
    """Stable 64-bit hashes of non-null strings: a polynomial over their UTF-8 bytes (mod 2**64),
    mixed with the length. Unlike `pl.Series.hash`, the result never changes between Polars
    versions, so stored distinct-count sketches keep merging after an upgrade."""
    array = series.cast(pl.String).to_arrow().cast("large_string")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data = array.buffers()[2]
    data_bytes = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    lengths = np.diff(offsets)
    out = np.empty(len(array), dtype=np.uint64)
    start = 0
    while start < len(array):
        # strings [start, stop) whose bytes fit the chunk (always at least one string)
        limit = offsets[start] + _HASH_BYTES_PER_CHUNK
        stop = max(start + 1, int(np.searchsorted(offsets, limit, side="right")) - 1)
        stop = min(stop, len(array))
        out[start:stop] = _hash_string_chunk(
            data_bytes, offsets[start : stop + 1], lengths[start:stop]
        )
        start = stop
    return _mix(out ^ (lengths.astype(np.uint64) * _MIX1) ^ _SEED)


def _hash_string_chunk(data: npt.NDArray[np.uint8], offsets: I64, lengths: I64) -> U64:
    first, last = int(offsets[0]), int(offsets[-1])
    hashes = np.zeros(lengths.size, dtype=np.uint64)
    if last == first:
        return hashes
    longest = int(lengths.max())
    powers = np.full(longest, _BYTE_BASE, dtype=np.uint64)
    powers[0] = 1
    powers = np.multiply.accumulate(powers)  # base**k mod 2**64
    ends = np.repeat(offsets[1:], lengths)
    exponent = ends - 1 - np.arange(first, last)
    terms = data[first:last].astype(np.uint64) * powers[exponent]
    nonempty = lengths > 0
    starts = (offsets[:-1] - first)[nonempty]
    hashes[nonempty] = np.add.reduceat(terms, starts)
    return hashes


@dataclass(frozen=True, slots=True)
class HyperLogLog:
    """A HyperLogLog distinct-count sketch over stable 64-bit hashes, `2**HLL_P` registers,
    merged by register-wise max; estimated with Ertl's improved estimator (2017), which needs no
    empirical bias tables and is accurate from one value to billions."""

    registers: npt.NDArray[np.uint8]

    @classmethod
    def empty(cls) -> HyperLogLog:
        return cls(np.zeros(1 << HLL_P, dtype=np.uint8))

    @classmethod
    def of(cls, hashes: U64) -> HyperLogLog:
        q = 64 - HLL_P
        registers = np.zeros(1 << HLL_P, dtype=np.uint8)
        if hashes.size:
            index = (hashes >> np.uint64(q)).astype(np.intp)
            rest = (hashes & np.uint64((1 << q) - 1)).astype(np.float64)  # < 2**52: exact
            _, bit_length = np.frexp(rest)
            np.maximum.at(registers, index, (q + 1 - bit_length).astype(np.uint8))
        return cls(registers)

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        return HyperLogLog(np.maximum(self.registers, other.registers))

    def estimate(self) -> float:
        m = self.registers.size
        q = 64 - HLL_P
        histogram = np.bincount(self.registers, minlength=q + 2).astype(np.float64)
        z = m * _tau(1.0 - histogram[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + histogram[k])
        z += m * _sigma(histogram[0] / m)
        if z == math.inf:
            return 0.0
        return float(m * m / (2.0 * math.log(2.0)) / z)

    def to_json(self) -> str:
        return pack(self.registers)

    @classmethod
    def from_json(cls, data: str) -> HyperLogLog:
        return cls(unpack(data, np.uint8).astype(np.uint8))


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


# -- value counts ------------------------------------------------------------------------------


def count_values(series: pl.Series) -> pl.DataFrame:
    """Exact counts of the non-null values of `series`: columns `value` and `count` (Int64),
    sorted by value so that the result does not depend on hashing order."""
    counts = series.drop_nulls().rename("value").value_counts(name="count")
    return counts.with_columns(pl.col("count").cast(pl.Int64)).sort("value")


def add_counts(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """The sum of two value-count frames (`value`, `count`), sorted by value."""
    if b.height == 0:
        return a
    if a.height == 0:
        return b
    if a.schema["value"] != b.schema["value"]:
        a, b = _common_values(a, b)
    combined = pl.concat([a, b]).group_by("value").agg(pl.col("count").sum())
    return combined.sort("value")


def _common_values(a: pl.DataFrame, b: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    # parts read with different numeric types (Int64 here, Float64 there): compare as floats
    dtype = (
        pl.Float64
        if a.schema["value"].is_numeric() and b.schema["value"].is_numeric()
        else pl.String
    )
    cast = pl.col("value").cast(dtype)
    return a.with_columns(cast), b.with_columns(cast)


@dataclass(frozen=True, slots=True)
class FrequentValues:
    """The most frequent values of a column with too many distinct values to count them all:
    the `FREQUENT_CAPACITY` largest counters, merged by adding counters and keeping the largest.
    Counts are lower bounds; `error` bounds how much a listed count may miss and how often an
    unlisted value may occur (it grows by the dropped counter at each merge, so with the log of
    the number of parts in a balanced merge). Large batches are sampled with a regular stride
    and their counts scaled back up; values seen only once in a sample are not kept (they are
    no evidence of a frequent value), so a column of distinct values lists none."""

    counts: pl.DataFrame  # `value`, `count` (Int64), largest first
    error: int = 0

    @classmethod
    def of(cls, series: pl.Series) -> FrequentValues:
        values = series.drop_nulls()
        stride = max(1, math.ceil(values.len() / FREQUENT_SAMPLE))
        if stride == 1:
            return cls.of_counts(count_values(values))
        counts = count_values(values.gather_every(stride))
        repeated = counts.filter(pl.col("count") > 1).with_columns(pl.col("count") * stride)
        return cls._trim(repeated, 2 * stride)

    @classmethod
    def of_counts(cls, counts: pl.DataFrame) -> FrequentValues:
        """From exact counts: the listed counts are exact."""
        return cls._trim(counts, 0)

    def merge(self, other: FrequentValues) -> FrequentValues:
        return self._trim(add_counts(self.counts, other.counts), self.error + other.error)

    @classmethod
    def _trim(cls, counts: pl.DataFrame, error: int) -> FrequentValues:
        ordered = counts.sort(["count", "value"], descending=[True, False], nulls_last=True)
        if ordered.height > FREQUENT_CAPACITY:
            error += int(ordered["count"][FREQUENT_CAPACITY])
            ordered = ordered.head(FREQUENT_CAPACITY)
        return cls(ordered, error)
