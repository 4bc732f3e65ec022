"""Data and exact reference computations shared by the profile, drift and executor tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial import distance

from tandem.data.profile import ColumnProfile

DATA = Path("/work/shared/data")
TELCO = DATA / "telco-churn.csv"
ADULT = DATA / "adult.csv"

NUMERIC = [f"num_{i:02d}" for i in range(14)]
CATEGORICAL = [f"cat_{i:02d}" for i in range(6)]
DRIFTED = ["num_00", "num_01", "num_02", "num_03", "cat_00"]


def read_telco() -> pl.DataFrame:
    return pl.read_csv(TELCO, infer_schema_length=10_000)


def read_adult() -> pl.DataFrame:
    return pl.read_csv(ADULT, infer_schema_length=10_000)


def drift_table(rows: int, seed: int, drift: bool) -> pl.DataFrame:
    """Workload D's generator (shared/bench/d_drift/make_data.py) at any size: 14 numeric and 6
    categorical columns; with `drift`, exactly the columns in DRIFTED are shifted."""
    rng = np.random.default_rng(seed)
    d: dict[str, object] = {}
    d["num_00"] = rng.normal(50 + (5 if drift else 0), 10, rows)
    d["num_01"] = rng.normal(0, 1.5 if drift else 1.0, rows)
    d["num_02"] = rng.lognormal(3.3 if drift else 3.0, 0.8, rows)
    d["num_03"] = rng.uniform(0, 120 if drift else 100, rows)
    d["num_04"] = rng.exponential(2.0, rows)
    d["num_05"] = np.where(rng.random(rows) < 0.01, np.nan, rng.normal(100, 15, rows))
    d["num_06"] = rng.poisson(4, rows).astype(np.float64)
    d["num_07"] = rng.gamma(2.0, 2.0, rows)
    d["num_08"] = rng.beta(2, 5, rows)
    d["num_09"] = rng.integers(0, 1000, rows).astype(np.float64)
    for i in range(10, 14):
        d[f"num_{i:02d}"] = rng.normal(i, 1 + i / 10, rows)
    cats = [list("ABCD"), ["red", "green", "blue"], [f"c{i}" for i in range(10)],
            ["yes", "no"], [f"r{i}" for i in range(20)], ["x", "y", "z", "w", "v"]]  # fmt: skip
    for i, values in enumerate(cats):
        p = np.ones(len(values)) / len(values)
        if i == 0:
            p = np.array([0.2, 0.3, 0.2, 0.3]) if drift else np.array([0.4, 0.3, 0.2, 0.1])
        d[f"cat_{i:02d}"] = np.array(values)[rng.choice(len(values), size=rows, p=p)]
    # NaN stands for a missing value, as pyarrow's from_pandas reads it in the benchmark
    frame = pl.DataFrame(d)
    return frame.with_columns(pl.col("num_05").fill_nan(None))


def numbers(frame: pl.DataFrame, column: str) -> np.ndarray:
    """The column's non-null, non-NaN values as float64 (what a profile summarises)."""
    series = frame[column].drop_nulls()
    if series.dtype.is_float():
        series = series.filter(~series.is_nan())
    return series.cast(pl.Float64).to_numpy()


def max_cdf_gap(column: ColumnProfile, values: np.ndarray) -> float:
    """sup over x of |F_profile(x) - F_data(x)|, F(x) = share of values <= x. Both are step
    functions that change only at data values or summary points, so those points suffice."""
    dist = column.distribution()
    assert dist is not None
    points, weights, _ = dist
    data = np.sort(values)
    grid = np.union1d(data, points)
    exact = np.searchsorted(data, grid, side="right") / data.size
    cumulative = np.r_[0, np.cumsum(weights)]
    approx = cumulative[np.searchsorted(points, grid, side="right")] / cumulative[-1]
    return float(np.abs(exact - approx).max())


# -- the reference implementations drift is checked against ------------------------------------

EPS = 1e-4


def psi(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    """shared/bench/d_drift/numpy_baseline.py's PSI."""
    p_ref, p_cur = np.clip(p_ref, EPS, None), np.clip(p_cur, EPS, None)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def psi_numeric(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    """The baseline's numeric PSI: 10 bins at the reference's quantiles."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    h_ref = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    h_cur = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return psi(h_ref / len(ref), h_cur / len(cur))


def shares(ref: pl.Series, cur: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Category shares of both series over the union of their values (nulls dropped)."""
    ref, cur = ref.drop_nulls(), cur.drop_nulls()
    keys = sorted(set(ref.to_list()) | set(cur.to_list()), key=str)
    count_ref = dict(ref.value_counts().iter_rows())
    count_cur = dict(cur.value_counts().iter_rows())
    p_ref = np.array([count_ref.get(k, 0) for k in keys]) / len(ref)
    p_cur = np.array([count_cur.get(k, 0) for k in keys]) / len(cur)
    return p_ref, p_cur


def js_numeric(ref: np.ndarray, cur: np.ndarray) -> float:
    """Evidently's Jensen-Shannon distance for a numeric column (utils.get_binned_data):
    Sturges bins over both samples when the reference has more than 20 values, else value
    shares; natural logarithm (Evidently 0.7 passes no base to SciPy)."""
    if len(np.unique(ref)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        p_ref = np.histogram(ref, edges)[0] / len(ref)
        p_cur = np.histogram(cur, edges)[0] / len(cur)
    else:
        p_ref, p_cur = shares(pl.Series(ref), pl.Series(cur))
    return float(distance.jensenshannon(p_ref, p_cur))


def wasserstein_normed(ref: np.ndarray, cur: np.ndarray) -> float:
    """Evidently's normed Wasserstein distance."""
    return float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001))
