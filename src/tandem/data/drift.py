"""Drift between two versions of a table, per column and overall, computed from their profiles.

For every column both sides share: the population stability index (PSI) and the Jensen-Shannon
distance; for numeric columns also the Kolmogorov-Smirnov statistic (with its p-value) and the
Wasserstein distance (raw and divided by the reference's standard deviation); for categorical
ones a chi-square test of homogeneity. One statistic gives the column's verdict against its
threshold; the table has drifted when the share of drifted columns reaches `drift_share`.

By default the verdict uses the statistic Evidently's `DataDriftPreset` picks (Evidently 0.7,
`get_stattest`), so that the two tools agree column by column:

* reference with more than 1,000 values: numeric with more than 5 distinct values ->
  Wasserstein distance / reference std (threshold 0.1); other numeric and categorical ->
  Jensen-Shannon distance, natural logarithm as in Evidently 0.7 (threshold 0.1);
* smaller references: numeric with more than 5 values -> KS p-value < 0.05; others ->
  chi-square p-value < 0.05 (a test of homogeneity here, where Evidently uses a goodness-of-fit
  test against the reference's shares; with two categories both equal Evidently's z-test).

Where the statistics come from:

* Columns with at most `profile.COUNTS_CAP` distinct values on both sides are compared from
  exact counts: every statistic is exact.
* Others are compared from the profiles' quantile summaries (numbers) or frequent values
  (categories). The CDFs are then within the summaries' rank error `e` (about 0.3 %, reported
  per column as `error`), so the KS statistic is within e_ref + e_cur of the exact one. At a
  million rows that bound is wider than the KS test's own resolution (D ~ 0.002 is significant),
  so there prefer the Wasserstein/PSI/JS verdicts, or `compare_frames(..., exact=True)`.
* `compare_frames(..., exact=True)` counts every value of the two frames and is exact for
  every column, at the price of memory and time that grow with the number of distinct values.

    report = compare_profiles(Profile.from_json(a), Profile.from_json(b))
    report = compare_frames(reference_df, current_df)            # profiles both, then compares
    report.to_json()
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial import distance

from tandem.data.profile import (
    ColumnProfile,
    Kind,
    Profile,
    profile_exact,
    profile_frame,
)
from tandem.data.sketches import F64, I64, json_number, weighted_quantiles

PSI_EPS = 1e-4  # shares are clipped to this before the PSI's logarithm (as the baseline does)
CHART_BINS = 20
CHART_CATEGORIES = 20
_KS_EXACT_N = 10_000  # SciPy's ks_2samp computes exact p-values up to this many values a side
OTHER = "(other)"


class Statistic(StrEnum):
    """A drift statistic a verdict can be based on."""

    PSI = "psi"
    JENSEN_SHANNON = "jensen_shannon"
    WASSERSTEIN = "wasserstein"  # divided by the reference's (population) standard deviation
    KS = "ks"  # verdict on the p-value
    CHI2 = "chi2"  # verdict on the p-value


@dataclass(frozen=True)
class DriftThresholds:
    """When a column, and the table, count as drifted.

    Attributes:
        psi: PSI at or above this is drift (0.1 is the usual "moderate shift").
        jensen_shannon: Jensen-Shannon distance (natural logarithm, as Evidently 0.7 computes
            it: 0 to sqrt(ln 2) = 0.83 for disjoint distributions) at or above this is drift.
        wasserstein: Wasserstein distance divided by the reference's standard deviation
            (floored at 0.001) at or above this is drift.
        ks_p_value: a KS p-value below this is drift.
        chi2_p_value: a chi-square p-value below this is drift.
        numeric: the statistic numeric columns are judged by; None picks as Evidently does
            (see the module docstring).
        categorical: the same for categorical columns (strings, booleans).
        small_sample: references with at most this many values are judged by p-values.
        few_values: numeric columns with at most this many distinct values (both sides
            together) are judged as categories.
        drift_share: the table has drifted when at least this share of the compared columns
            has (Evidently's default, 0.5).
        psi_bins: numeric PSI uses this many bins at the reference's quantiles.
    """

    psi: float = 0.1
    jensen_shannon: float = 0.1
    wasserstein: float = 0.1
    ks_p_value: float = 0.05
    chi2_p_value: float = 0.05
    numeric: Statistic | None = None
    categorical: Statistic | None = None
    small_sample: int = 1_000
    few_values: int = 5
    drift_share: float = 0.5
    psi_bins: int = 10


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column.

    `statistics` holds every statistic computed (None where it could not be); `statistic`,
    `value` and `threshold` say which one gave the verdict `drifted`. `exact` is False when
    any statistic came from a sketch, and `error` is then the CDF error bound (numbers). `chart`
    holds both sides binned alike for display: ``{"edges": [...]}`` (numbers; len(shares) + 1
    edges) or ``{"categories": [...]}``, with ``"reference"`` and ``"current"`` shares.
    """

    column: str
    kind: str
    type: str
    statistic: str | None
    value: float | None
    threshold: float | None
    drifted: bool
    exact: bool
    statistics: dict[str, float | None]
    chart: dict[str, Any] = field(default_factory=dict)
    error: float = 0.0
    note: str | None = None


@dataclass(frozen=True)
class SchemaChange:
    """A column `added` (only in current), `removed` (only in reference) or whose `type`
    changed (its Polars type as read on each side)."""

    column: str
    change: str
    reference: str | None
    current: str | None


@dataclass(frozen=True)
class DriftReport:
    """Drift per column, schema changes and the overall verdict from reference to current."""

    reference_rows: int
    current_rows: int
    columns: list[ColumnDrift]
    schema_changes: list[SchemaChange]
    thresholds: DriftThresholds

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        """Share of the compared columns that drifted."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        """Whether the table drifted: the share of drifted columns reached `drift_share`."""
        return bool(self.columns) and self.share >= self.thresholds.drift_share

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: ``{reference_rows, current_rows, drifted, drifted_columns (names),
        drifted_count, compared_columns, share, thresholds, columns: [ColumnDrift fields],
        schema_changes: [{column, change, reference, current}]}``."""
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "drifted_count": len(self.drifted_columns),
            "compared_columns": len(self.columns),
            "share": self.share,
            "thresholds": {
                k: (v.value if isinstance(v, Statistic) else v)
                for k, v in asdict(self.thresholds).items()
            },
            "columns": [_column_json(c) for c in self.columns],
            "schema_changes": [asdict(c) for c in self.schema_changes],
        }


def _column_json(column: ColumnDrift) -> dict[str, Any]:
    out = asdict(column)
    out["statistics"] = {
        k: (None if v is None else json_number(v)) for k, v in column.statistics.items()
    }
    if column.value is not None:
        out["value"] = json_number(column.value)
    return out


# -- entry points ------------------------------------------------------------------------------


def compare_profiles(
    reference: Profile, current: Profile, thresholds: DriftThresholds | None = None
) -> DriftReport:
    """Drift from `reference` to `current`, from their profiles alone (milliseconds).

    Args:
        reference: the profile of the reference (older, training) version.
        current: the profile of the version to check.
        thresholds: verdict rules; `DriftThresholds()` by default.

    Returns:
        A `DriftReport`. Columns in only one profile, or read as a different kind of type
        (numbers on one side, text on the other), are schema changes and are not compared;
        nested and binary columns are not compared.
    """
    rules = thresholds or DriftThresholds()
    columns: list[ColumnDrift] = []
    changes: list[SchemaChange] = []
    for name, ref in reference.columns.items():
        cur = current.columns.get(name)
        if cur is None:
            changes.append(SchemaChange(name, "removed", ref.dtype, None))
            continue
        if ref.dtype != cur.dtype:
            changes.append(SchemaChange(name, "type", ref.dtype, cur.dtype))
        if ref.kind is not cur.kind or ref.temporal != cur.temporal or ref.kind is Kind.OTHER:
            continue
        columns.append(compare_columns(ref, cur, rules))
    for name, cur in current.columns.items():
        if name not in reference.columns:
            changes.append(SchemaChange(name, "added", None, cur.dtype))
    return DriftReport(reference.rows, current.rows, columns, changes, rules)


def compare_frames(
    reference: pl.DataFrame | pl.LazyFrame,
    current: pl.DataFrame | pl.LazyFrame,
    thresholds: DriftThresholds | None = None,
    exact: bool = False,
) -> DriftReport:
    """Drift from the rows of `reference` to those of `current`.

    By default both are profiled (streaming, bounded memory) and compared as `compare_profiles`
    does. With `exact`, every distinct value of both is counted and every statistic is exact
    (what SciPy computes on the same rows), in memory that grows with the distinct values.
    """
    if exact:
        ref = reference.collect() if isinstance(reference, pl.LazyFrame) else reference
        cur = current.collect() if isinstance(current, pl.LazyFrame) else current
        return compare_profiles(profile_exact(ref), profile_exact(cur), thresholds)
    return compare_profiles(profile_frame(reference), profile_frame(current), thresholds)


def compare_columns(
    reference: ColumnProfile, current: ColumnProfile, thresholds: DriftThresholds
) -> ColumnDrift:
    """The drift of one column between two profiles of the same kind."""
    if reference.kind is Kind.NUMERIC:
        return _compare_numeric(reference, current, thresholds)
    return _compare_categorical(reference, current, thresholds)


# -- numeric columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dist:
    """A numeric distribution: sorted values with weights (exact counts or a summary)."""

    values: F64
    weights: I64
    error: float
    n: int

    def cdf(self, points: F64, strict: bool = False) -> F64:
        cumulative = np.r_[0, np.cumsum(self.weights)]
        index = np.searchsorted(self.values, points, side="left" if strict else "right")
        return np.asarray(cumulative[index] / max(self.n, 1), dtype=np.float64)


def _dist(column: ColumnProfile) -> _Dist:
    got = column.distribution()
    assert got is not None
    values, weights, error = got
    return _Dist(values, weights, error, int(weights.sum()))


def _compare_numeric(
    ref_col: ColumnProfile, cur_col: ColumnProfile, rules: DriftThresholds
) -> ColumnDrift:
    ref, cur = _dist(ref_col), _dist(cur_col)
    exact = ref_col.is_exact and cur_col.is_exact
    base = {"column": ref_col.name, "kind": Kind.NUMERIC.value, "type": ref_col.type}
    if ref.n == 0 or cur.n == 0:
        return _empty_side(base, ref.n, cur.n)
    union = np.union1d(ref.values, cur.values)
    f_ref, f_cur = ref.cdf(union), cur.cdf(union)
    gap = np.abs(f_ref - f_cur)
    ks = float(gap.max())
    ks_p = _ks_p_value(ref, cur, ks, exact)
    wasserstein = float(np.dot(gap[:-1], np.diff(union))) if union.size > 1 else 0.0
    norm = max(ref_col.moments.population_std, 0.001)
    few = exact and union.size <= rules.few_values
    if exact and ref_col.distinct <= 20:
        # Evidently's binning for Jensen-Shannon: value shares when the reference has <= 20
        js = _js(*_value_shares(ref, cur, union))
    else:
        js = _js(*_sturges_shares(ref, cur, ref_col, cur_col))
    statistics: dict[str, float | None] = {
        "psi": _psi_numeric(ref, cur, rules.psi_bins),
        "jensen_shannon": js,
        "wasserstein": wasserstein,
        "wasserstein_normed": wasserstein / norm,
        "ks": ks,
        "ks_p_value": ks_p,
    }
    if few:
        ref_shares, cur_shares = _value_shares(ref, cur, union)
        counts = np.vstack([ref_shares * ref.n, cur_shares * cur.n])
        statistics["chi2"], statistics["chi2_p_value"] = _chi2(counts)
    statistic = rules.numeric or _auto_numeric(ref.n, few, rules)
    return _verdict(
        base, statistic, statistics, rules, exact, max(ref.error, cur.error),
        _numeric_chart(ref, cur, ref_col, cur_col),
    )  # fmt: skip


def _auto_numeric(ref_n: int, few: bool, rules: DriftThresholds) -> Statistic:
    if ref_n > rules.small_sample:
        return Statistic.JENSEN_SHANNON if few else Statistic.WASSERSTEIN
    return Statistic.CHI2 if few else Statistic.KS


def _ks_p_value(ref: _Dist, cur: _Dist, ks: float, exact: bool) -> float:
    if exact and ref.n <= _KS_EXACT_N and cur.n <= _KS_EXACT_N:
        # small exact samples: SciPy's exact p-value, on the values themselves
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # SciPy falls back to asymptotic
            result = stats.ks_2samp(
                np.repeat(ref.values, ref.weights), np.repeat(cur.values, cur.weights)
            )
        return float(result.pvalue)
    # ks_2samp's asymptotic p-value is kstwo.sf(D, round(n m / (n + m))). That costs ~0.5-1 s a
    # column at a million rows when p < 0.1, so above 10,000 we use Stephens' (1970) correction
    # of the Kolmogorov limit instead: within 3e-4 of kstwo there, and microseconds.
    en = float(ref.n) * cur.n / (ref.n + cur.n)
    if en <= _KS_EXACT_N:
        return float(np.clip(stats.kstwo.sf(ks, np.round(en)), 0.0, 1.0))
    root = math.sqrt(en)
    return float(np.clip(stats.kstwobign.sf((root + 0.12 + 0.11 / root) * ks), 0.0, 1.0))


def _psi_numeric(ref: _Dist, cur: _Dist, bins: int) -> float:
    # The baseline's PSI: bins cut at the reference's quantiles (NumPy's linear method),
    # bin i holding values in [edge(i-1), edge(i)).
    probabilities = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.unique(weighted_quantiles(ref.values, ref.weights, probabilities))
    ref_shares = np.diff(np.r_[0.0, ref.cdf(edges, strict=True), 1.0])
    cur_shares = np.diff(np.r_[0.0, cur.cdf(edges, strict=True), 1.0])
    return _psi(ref_shares, cur_shares)


def _value_shares(ref: _Dist, cur: _Dist, union: F64) -> tuple[F64, F64]:
    def shares(dist: _Dist) -> F64:
        counts = np.zeros(union.size)
        counts[np.searchsorted(union, dist.values)] = dist.weights
        return np.asarray(counts / max(dist.n, 1), dtype=np.float64)

    return shares(ref), shares(cur)


def _sturges_shares(
    ref: _Dist, cur: _Dist, ref_col: ColumnProfile, cur_col: ColumnProfile
) -> tuple[F64, F64]:
    # numpy.histogram_bin_edges(both, "sturges"), as Evidently bins numbers for Jensen-Shannon
    low = min(ref_col.moments.min, cur_col.moments.min)
    high = max(ref_col.moments.max, cur_col.moments.max)
    if not high > low:
        return np.ones(1), np.ones(1)
    width = (high - low) / (math.log2(ref.n + cur.n) + 1.0)
    edges = np.linspace(low, high, math.ceil((high - low) / width) + 1)
    return _binned(ref, edges), _binned(cur, edges)


def _binned(dist: _Dist, edges: F64) -> F64:
    """Shares in [edge(i), edge(i+1)), the last bin closed (numpy.histogram's convention)."""
    below = dist.cdf(edges[1:-1], strict=True)
    return np.asarray(np.diff(np.r_[0.0, below, 1.0]), dtype=np.float64)


def _numeric_chart(
    ref: _Dist, cur: _Dist, ref_col: ColumnProfile, cur_col: ColumnProfile
) -> dict[str, Any]:
    low = min(ref_col.moments.min, cur_col.moments.min)
    high = max(ref_col.moments.max, cur_col.moments.max)
    if not (math.isfinite(low) and math.isfinite(high)):
        return {}
    edges = np.linspace(low, high, CHART_BINS + 1) if high > low else np.array([low, high])
    return {
        "edges": [ref_col.show(float(e), exact=False) for e in edges],
        "reference": _rounded(_binned(ref, edges)),
        "current": _rounded(_binned(cur, edges)),
    }


# -- categorical columns -----------------------------------------------------------------------


def _compare_categorical(
    ref_col: ColumnProfile, cur_col: ColumnProfile, rules: DriftThresholds
) -> ColumnDrift:
    base = {"column": ref_col.name, "kind": Kind.CATEGORICAL.value, "type": ref_col.type}
    ref_n, cur_n = ref_col.count, cur_col.count
    if ref_n == 0 or cur_n == 0:
        return _empty_side(base, ref_n, cur_n)
    ref_counts, ref_exact = ref_col.category_counts()
    cur_counts, cur_exact = cur_col.category_counts()
    exact = ref_exact and cur_exact
    if ref_counts.schema["value"] != cur_counts.schema["value"]:
        ref_counts = ref_counts.with_columns(pl.col("value").cast(pl.String))
        cur_counts = cur_counts.with_columns(pl.col("value").cast(pl.String))
    joined = (
        ref_counts.join(cur_counts, on="value", how="full", coalesce=True, suffix="_cur")
        .fill_null(0)
        .sort("value", nulls_last=True)
    )
    categories = [_category_label(ref_col, v) for v in joined["value"].to_list()]
    counts = np.vstack(
        [joined["count"].to_numpy().astype(np.float64), joined["count_cur"].to_numpy()]
    ).astype(np.float64)
    if not exact:
        # values outside the frequent lists: one bucket per side
        rest = np.array([[max(ref_n - counts[0].sum(), 0.0)], [max(cur_n - counts[1].sum(), 0.0)]])
        counts = np.hstack([counts, rest])
        categories.append(OTHER)
    ref_shares, cur_shares = counts[0] / ref_n, counts[1] / cur_n
    chi2, chi2_p = _chi2(counts)
    statistics: dict[str, float | None] = {
        "psi": _psi(ref_shares, cur_shares),
        "jensen_shannon": _js(ref_shares, cur_shares),
        "chi2": chi2,
        "chi2_p_value": chi2_p,
    }
    statistic = rules.categorical or (
        Statistic.JENSEN_SHANNON if ref_n > rules.small_sample else Statistic.CHI2
    )
    note = None if exact else "approximate: compared over the most frequent values only"
    return _verdict(
        base, statistic, statistics, rules, exact, 0.0,
        _category_chart(categories, ref_shares, cur_shares), note,
    )  # fmt: skip


def _category_label(column: ColumnProfile, value: Any) -> Any:
    return column.show(float(value)) if column.temporal is not None else value


def _category_chart(categories: list[Any], ref: F64, cur: F64) -> dict[str, Any]:
    order = np.argsort(-(ref + cur), kind="stable")
    if order.size > CHART_CATEGORIES:
        head, tail = order[: CHART_CATEGORIES - 1], order[CHART_CATEGORIES - 1 :]
        return {
            "categories": [categories[i] for i in head] + [OTHER],
            "reference": _rounded(np.r_[ref[head], ref[tail].sum()]),
            "current": _rounded(np.r_[cur[head], cur[tail].sum()]),
        }
    return {
        "categories": [categories[i] for i in order],
        "reference": _rounded(ref[order]),
        "current": _rounded(cur[order]),
    }


# -- statistics --------------------------------------------------------------------------------


def _psi(ref_shares: F64, cur_shares: F64) -> float:
    ref = np.clip(ref_shares, PSI_EPS, None)
    cur = np.clip(cur_shares, PSI_EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _js(ref_shares: F64, cur_shares: F64) -> float:
    if ref_shares.sum() <= 0 or cur_shares.sum() <= 0:
        return 0.0
    return float(distance.jensenshannon(ref_shares, cur_shares))  # natural log, as Evidently


def _chi2(counts: F64) -> tuple[float | None, float | None]:
    """Chi-square test of homogeneity of a 2 x k table (no continuity correction)."""
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / counts.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, counts.shape[1] - 1))


def _verdict(
    base: dict[str, Any],
    statistic: Statistic,
    statistics: dict[str, float | None],
    rules: DriftThresholds,
    exact: bool,
    error: float,
    chart: dict[str, Any],
    note: str | None = None,
) -> ColumnDrift:
    key, threshold, below = {
        Statistic.PSI: ("psi", rules.psi, False),
        Statistic.JENSEN_SHANNON: ("jensen_shannon", rules.jensen_shannon, False),
        Statistic.WASSERSTEIN: ("wasserstein_normed", rules.wasserstein, False),
        Statistic.KS: ("ks_p_value", rules.ks_p_value, True),
        Statistic.CHI2: ("chi2_p_value", rules.chi2_p_value, True),
    }[statistic]
    value = statistics.get(key)
    if value is None:
        return ColumnDrift(
            **base, statistic=statistic.value, value=None, threshold=threshold, drifted=False,
            exact=exact, statistics=statistics, chart=chart, error=error,
            note=f"{statistic.value} does not apply to this column",
        )  # fmt: skip
    drifted = value < threshold if below else value >= threshold
    return ColumnDrift(
        **base, statistic=statistic.value, value=value, threshold=threshold,
        drifted=bool(drifted), exact=exact, statistics=statistics, chart=chart, error=error,
        note=note,
    )  # fmt: skip


def _empty_side(base: dict[str, Any], ref_n: int, cur_n: int) -> ColumnDrift:
    # A column that lost (or gained) all its values has changed, whatever a statistic says.
    drifted = (ref_n == 0) != (cur_n == 0)
    side = "reference" if ref_n == 0 else "current"
    note = "no values on either side" if not drifted else f"the {side} has no values"
    return ColumnDrift(
        **base, statistic=None, value=None, threshold=None, drifted=drifted, exact=True,
        statistics={}, note=note,
    )  # fmt: skip


def _rounded(shares: F64) -> list[float]:
    return [round(float(s), 6) for s in shares]
