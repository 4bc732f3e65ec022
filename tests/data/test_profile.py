"""Profiles agree with exact Polars/NumPy computations on real and generated data.

Tolerances, stated once:
* counts, nulls, NaNs, min, max and exact value counts: equal;
* mean and standard deviation: relative 1e-12 (float rounding of a different summation order);
* columns with at most COUNTS_CAP distinct values: distinct count, top values, quantiles and
  histogram equal NumPy's exactly;
* beyond that: the profile's CDF is within its own reported `error` of the data's CDF at every
  point (a guarantee, not a fit), histogram cumulative counts within error * n, quantiles within
  error (+1/n) in rank, distinct counts within 5 % (3 standard errors of a 4,096-register HLL).
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from stats_world import ADULT, TELCO, drift_table, max_cdf_gap, numbers, read_adult, read_telco

from tandem.core.executor import LocalExecutor
from tandem.data.drift import compare_profiles
from tandem.data.frames import TableFormat
from tandem.data.profile import (
    COUNTS_CAP,
    MAX_VALUE_CHARS,
    ColumnProfile,
    Kind,
    Profile,
    bound_value,
    merge_profiles,
    profile_files,
    profile_frame,
    profile_table,
)
from tandem.data.sketches import HLL_P, HyperLogLog, hash_floats, hash_ints, hash_strings
from tandem.errors import InvalidInput, UnreadableData

REL = 1e-12
START = datetime(2024, 1, 1)  # noqa: DTZ001 (a naive datetime column)
# The sketch's stated standard error is 1.04/sqrt(registers) (1.6 % at 4,096); an estimate is
# checked against the true count within three of them, never pinned to a number.
HLL_TOLERANCE = 3 * 1.04 / math.sqrt(1 << HLL_P)


def check_exact_stats(column: ColumnProfile, series: pl.Series) -> None:
    """What every profile gets exactly, whatever the column's size."""
    assert column.rows == series.len()
    assert column.nulls == series.null_count()
    if column.kind is not Kind.NUMERIC or column.temporal is not None:
        return
    values = numbers(series.to_frame(), series.name)
    assert column.moments.n == values.size
    assert column.moments.min == values.min()
    assert column.moments.max == values.max()
    assert math.isclose(column.moments.mean, values.mean(), rel_tol=REL)
    assert math.isclose(column.moments.std, values.std(ddof=1), rel_tol=REL)


def assert_same_summary(a: dict, b: dict) -> None:
    """Equal summaries, up to float rounding in the mean and standard deviations."""
    for key in ("mean", "std"):
        assert math.isclose(a.pop(key, 0.0), b.pop(key, 0.0), rel_tol=REL)
    for length in (a.pop("length", None), b.pop("length", None)):
        if length is not None:
            length.pop("std")
    assert a == b


def check_distribution(column: ColumnProfile, series: pl.Series) -> None:
    """Exact columns: equal to NumPy. Sketched ones: within the profile's own error bound."""
    values = numbers(series.to_frame(), series.name)
    summary = column.summary()
    probabilities = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    quantiles = column.quantile(probabilities)
    edges, counts = column.histogram() or (None, None)
    assert edges is not None and counts is not None
    true_counts = np.histogram(values, edges)[0]
    if column.is_exact:
        assert summary["distinct"] == np.unique(values).size
        np.testing.assert_allclose(quantiles, np.quantile(values, probabilities), rtol=1e-12)
        np.testing.assert_array_equal(counts, true_counts)
        return
    error = column.distribution()[2]  # type: ignore[index]
    # each summary reduction adds <= pi/(4*512) = 0.15 %; these tables take at most 6 levels
    assert 0 < error <= 0.01
    assert max_cdf_gap(column, values) <= error + 1e-12  # the bound is tight: rounding only
    n = values.size
    assert np.abs(np.cumsum(counts) - np.cumsum(true_counts)).max() <= error * n + 1
    ordered = np.sort(values)
    for p, q in zip(probabilities, quantiles, strict=True):
        below = np.searchsorted(ordered, q, side="left") / n
        at_most = np.searchsorted(ordered, q, side="right") / n
        assert below <= p + error + 1 / n
        assert at_most >= p - error - 1 / n
    true_distinct = np.unique(values).size
    assert abs(column.distinct - true_distinct) <= HLL_TOLERANCE * true_distinct


def test_telco_profile_matches_polars():
    profile = profile_table([TELCO], TableFormat.CSV)
    frame = read_telco()
    assert profile.rows == frame.height == 7043
    assert list(profile.columns) == frame.columns
    for name in frame.columns:
        column, series = profile.columns[name], frame[name]
        check_exact_stats(column, series)
        if column.kind is Kind.NUMERIC:
            check_distribution(column, series)
        true_distinct = series.drop_nulls().n_unique()
        if column.is_exact:
            assert column.distinct == true_distinct
            expected = series.value_counts(sort=True).sort(
                ["count", name], descending=[True, False]
            )
            top = column.summary()["top"]
            assert top == [list(row) for row in expected.head(len(top)).iter_rows()]
        else:
            assert true_distinct > COUNTS_CAP
            assert abs(column.distinct - true_distinct) <= HLL_TOLERANCE * true_distinct
    summary = profile.summary()["columns"]
    assert summary["tenure"]["type"] == "integer"
    assert summary["tenure"]["min"] == 0 and summary["tenure"]["max"] == 72
    assert summary["Churn"]["top"] == [["No", 5174], ["Yes", 1869]]
    assert summary["SeniorCitizen"]["distinct"] == 2


def test_telco_total_charges_is_profiled_as_read():
    """TotalCharges is text in the file (a blank for 11 new customers): the profile says so
    rather than guessing, and a cast column profiles as numbers with 11 nulls."""
    profile = profile_table([TELCO], TableFormat.CSV)
    as_read = profile.summary()["columns"]["TotalCharges"]
    assert (as_read["type"], as_read["dtype"], as_read["nulls"]) == ("string", "String", 0)
    assert [" ", 11] in as_read["top"]  # listed counts are exact lower bounds; here exact
    assert as_read["length"]["min"] == 1

    frame = read_telco().with_columns(
        pl.col("TotalCharges").str.strip_chars().cast(pl.Float64, strict=False)
    )
    cast = profile_frame(frame).columns["TotalCharges"]
    assert (cast.type, cast.nulls, cast.count) == ("float", 11, 7032)
    check_exact_stats(cast, frame["TotalCharges"])
    check_distribution(cast, frame["TotalCharges"])


def test_adult_profile_matches_numpy():
    frame = read_adult()
    profile = profile_table([ADULT], TableFormat.CSV)
    assert profile.rows == 30_162
    for name in frame.columns:
        check_exact_stats(profile.columns[name], frame[name])
        if profile.columns[name].kind is Kind.NUMERIC:
            check_distribution(profile.columns[name], frame[name])
    assert profile.columns["age"].is_exact  # 72 ages: exact quantiles and histogram
    assert not profile.columns["fnlwgt"].is_exact  # 20,263 values: sketched
    income = profile.summary()["columns"]["income"]
    assert income["top"] == [["<=50K", 22654], [">50K", 7508]]


def test_generated_types_nulls_nans_and_large_columns():
    rng = np.random.default_rng(7)
    n = 300_000
    normal = rng.normal(10, 3, n)
    normal[rng.random(n) < 0.02] = np.nan
    frame = pl.DataFrame(
        {
            "normal": normal,
            "lognormal": rng.lognormal(0, 1.5, n),
            "ints": rng.integers(0, 5_000, n),
            "when": pl.datetime_range(START, START + timedelta(minutes=n - 1), "1m", eager=True),
            "day": pl.Series(rng.integers(19_000, 19_500, n)).cast(pl.Date),
            "flag": rng.random(n) < 0.3,
            "colour": pl.Series(np.array(["red", "green", "blue"])[rng.integers(0, 3, n)]).cast(
                pl.Categorical
            ),
            "tags": [[1, 2]] * n,
            "nothing": pl.Series([None] * n, dtype=pl.Float64),
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 10 == 0)
        .then(None)
        .otherwise(pl.col("lognormal"))
        .alias("lognormal")
    )
    profile = profile_frame(frame, batch_rows=65_536)
    cols = profile.columns
    assert cols["normal"].nans == int(np.isnan(normal).sum()) > 0
    for name in ("normal", "lognormal", "ints"):
        check_exact_stats(cols[name], frame[name])
        check_distribution(cols[name], frame[name])
    assert cols["lognormal"].nulls == n // 10
    summary = profile.summary()["columns"]
    assert summary["when"]["type"] == "datetime"
    assert summary["when"]["min"] == "2024-01-01T00:00:00"
    assert summary["when"]["max"] == frame["when"].max().isoformat()  # type: ignore[union-attr]
    assert summary["day"]["type"] == "date"
    assert summary["day"]["min"] == frame["day"].min().isoformat()  # type: ignore[union-attr]
    assert isinstance(summary["day"]["quantiles"]["p50"], str)
    assert summary["flag"]["type"] == "boolean"
    assert dict(map(tuple, summary["flag"]["top"])) == dict(
        frame["flag"].value_counts().iter_rows()
    )
    assert summary["colour"]["type"] == "categorical" and summary["colour"]["distinct"] == 3
    assert summary["tags"] == {
        "type": "other", "dtype": "List(Int64)", "count": n, "nulls": 0, "null_share": 0.0
    }  # fmt: skip
    assert summary["nothing"]["nulls"] == n and summary["nothing"]["distinct"] == 0
    true_distinct = frame["when"].n_unique()
    assert abs(cols["when"].distinct - true_distinct) <= HLL_TOLERANCE * true_distinct
    json.dumps(profile.to_json(), allow_nan=False)  # JSON-safe


def test_merged_parts_equal_the_whole():
    """The profile of parts, merged, is the profile of the whole: exact statistics equal,
    distinct-count registers identical (a union is a register-wise max), sketches within
    their bounds against the whole's data."""
    frame = read_adult()
    cuts = [0, 1_000, 1_001, 9_000, 17_500, 17_600, 24_000, frame.height]
    parts = [profile_frame(frame.slice(a, b - a)) for a, b in itertools.pairwise(cuts)]
    merged = merge_profiles(parts)
    whole = profile_frame(frame)
    assert merged.rows == whole.rows == frame.height
    for name in frame.columns:
        m, w = merged.columns[name], whole.columns[name]
        check_exact_stats(m, frame[name])
        assert (m.rows, m.nulls, m.moments.n, m.moments.min, m.moments.max) == (
            w.rows, w.nulls, w.moments.n, w.moments.min, w.moments.max
        )  # fmt: skip
        assert math.isclose(m.moments.mean, w.moments.mean, rel_tol=REL)
        assert math.isclose(m.moments.std, w.moments.std, rel_tol=REL)
        assert m.is_exact == w.is_exact
        if m.is_exact:
            assert m.counts is not None and w.counts is not None
            assert m.counts.equals(w.counts)
            assert_same_summary(m.summary(), w.summary())
        else:
            assert m.hll is not None and w.hll is not None
            np.testing.assert_array_equal(m.hll.registers, w.hll.registers)
            if m.kind is Kind.NUMERIC:
                check_distribution(m, frame[name])
    # frequent values of a sketched column: listed counts are lower bounds within `error`
    fnlwgt = merged.columns["fnlwgt"]
    assert fnlwgt.frequent is not None
    truth = dict(frame["fnlwgt"].value_counts().iter_rows())
    for value, count in fnlwgt.frequent.counts.iter_rows():
        assert truth[value] - fnlwgt.frequent.error <= count <= truth[value]


def test_streamed_batches_and_file_parts(tmp_path: Path):
    frame = read_adult()
    whole = profile_frame(frame)
    streamed = profile_table([ADULT], TableFormat.CSV, batch_rows=2_000)  # 16 batches
    for name in frame.columns:
        check_exact_stats(streamed.columns[name], frame[name])
        if streamed.columns[name].is_exact:
            assert_same_summary(streamed.columns[name].summary(), whole.columns[name].summary())
    check_distribution(streamed.columns["fnlwgt"], frame["fnlwgt"])

    paths = []
    for i, offset in enumerate(range(0, frame.height, 7_000)):
        paths.append(tmp_path / f"part-{i}.parquet")
        frame.slice(offset, 7_000).write_parquet(paths[-1])
    by_file = profile_files(paths, TableFormat.PARQUET, LocalExecutor())
    merged = merge_profiles([profile_table([p], TableFormat.PARQUET) for p in paths])
    assert by_file.to_json() == merged.to_json()
    threaded = profile_files(paths, TableFormat.PARQUET, LocalExecutor(workers=2))
    assert threaded.to_json() == by_file.to_json()
    check_distribution(by_file.columns["fnlwgt"], frame["fnlwgt"])


def test_csv_parts_read_with_the_whole_tables_schema(tmp_path: Path):
    """A part of telco without a blank TotalCharges would read as numbers on its own; read
    with the table's schema it stays text, so the parts merge."""
    frame = read_telco()
    blank = frame["TotalCharges"] == " "
    clean, with_blanks = frame.filter(~blank), frame.filter(blank)
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    clean.write_csv(paths[0])
    with_blanks.write_csv(paths[1])
    assert pl.read_csv(paths[0]).schema["TotalCharges"] == pl.Float64
    profile = profile_files(paths, TableFormat.CSV, LocalExecutor())
    assert profile.rows == 7043
    total = profile.columns["TotalCharges"]
    assert total.dtype == "String" and total.nulls == 0


def test_json_round_trip_is_exact_and_compact():
    frame = drift_table(200_000, seed=1, drift=False)
    profile = profile_frame(frame)
    data = profile.to_json()
    text = json.dumps(data, allow_nan=False)
    again = Profile.from_json(json.loads(text))
    assert again.to_json() == data
    # 12 high-cardinality numeric columns at ~9 KB each (quantile summary 5.2 KB, HyperLogLog
    # 2.5 KB, summary 1.1 KB), the other 8 at ~1 KB or less
    assert len(text) < 125_000
    summary = data["columns"]["num_00"]
    assert set(summary["quantiles"]) == {"p01", "p05", "p25", "p50", "p75", "p95", "p99"}
    assert len(summary["histogram"]["edges"]) == 21 and len(summary["histogram"]["counts"]) == 20
    assert sum(summary["histogram"]["counts"]) == summary["count"]
    with pytest.raises(InvalidInput, match="not a tandem profile"):
        Profile.from_json({"rows": 1})


def test_megabyte_strings_keep_the_profile_small_and_comparable():
    """Long strings are counted and stored as their beginning plus a hash of the whole: the
    profile stays small, distinct values stay distinct (even with a common beginning), and
    the same values match across profiles, stored or not, so drift still compares them."""
    huge = ["x" * 1_000_000 + tail for tail in ("a", "b", "c")]
    frame = pl.DataFrame({"text": [*huge, huge[0], "short"], "n": [1, 2, 3, 4, 5]})
    profile = profile_frame(frame)
    text = json.dumps(profile.to_json(), allow_nan=False)
    assert len(text) < 20_000
    column = profile.columns["text"]
    assert column.distinct == 4 and column.moments.max == 1_000_001  # lengths of the values
    top = dict(profile.summary()["columns"]["text"]["top"])
    assert top == {bound_value(huge[0]): 2, bound_value(huge[1]): 1, bound_value(huge[2]): 1,
                   "short": 1}  # fmt: skip
    assert all(len(value) == MAX_VALUE_CHARS for value in top if value != "short")
    assert bound_value(huge[0]).startswith("x" * 100) and "…" in bound_value(huge[0])
    assert bound_value(bound_value(huge[0])) == bound_value(huge[0])
    repeated = profile_frame(pl.DataFrame({"text": [huge[1]] * 4 + ["short"]}))  # hashed once
    assert dict(repeated.summary()["columns"]["text"]["top"]) == {bound_value(huge[1]): 4,
                                                                  "short": 1}  # fmt: skip
    # another version with the same long values has not drifted; a new value is a new category
    stored = Profile.from_json(json.loads(text))
    same = profile_frame(frame.reverse())
    report = compare_profiles(stored, same).to_json()
    assert report["drifted_columns"] == []
    changed = profile_frame(frame.with_columns(pl.col("text").str.replace("^x", "y")))
    drift = compare_profiles(stored, changed)
    text_drift = next(c for c in drift.columns if c.column == "text")
    assert len(text_drift.chart["categories"]) == 7  # 3 old long, 3 new long, "short"
    assert max(len(str(c)) for c in text_drift.chart["categories"]) == MAX_VALUE_CHARS


def test_merge_mismatched_kinds_and_missing_columns():
    a = profile_frame(pl.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}))
    b = profile_frame(pl.DataFrame({"x": ["1", "2"]}))
    with pytest.raises(InvalidInput, match="column 'x' is Int64 in one part and String"):
        a.merge(b)
    c = profile_frame(pl.DataFrame({"x": [4.5, None]}))
    merged = a.merge(c)
    assert merged.rows == 5
    assert (merged.columns["y"].rows, merged.columns["y"].nulls) == (5, 2)
    x = merged.columns["x"]
    assert x.type == "float" and x.dtype == "Float64 | Int64"
    assert (x.count, x.moments.min, x.moments.max) == (4, 1.0, 4.5)


def test_empty_and_unreadable_tables(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    profile = profile_table([empty], TableFormat.CSV)
    assert profile.rows == 0 and list(profile.columns) == ["a", "b"]
    assert profile.summary()["columns"]["a"]["count"] == 0
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(UnreadableData):
        profile_table([broken], TableFormat.PARQUET)


def test_hashes_are_stable_and_hll_is_accurate():
    # Pinned values: a change here would break merging profiles stored by earlier versions.
    assert [int(h) for h in hash_strings(pl.Series(["", "a", "tandem"]))] == PINNED_STRINGS
    assert [int(h) for h in hash_floats(np.array([0.0, -0.0, 1.0]))] == PINNED_FLOATS
    assert int(hash_ints(np.array([3]))[0]) != int(hash_floats(np.array([3.0]))[0])
    long = pl.Series(["x" * 5_000_000, "x" * 5_000_000 + "y", "é"])  # spans hashing chunks
    hashes = hash_strings(long)
    assert len(set(hashes.tolist())) == 3
    assert hash_strings(long.slice(1, 2))[0] == hashes[1]  # sliced arrays hash alike
    assert HyperLogLog.empty().estimate() == 0.0
    for n in (1, 10, 1_000, 100_000, 1_000_000):
        estimate = HyperLogLog.of(hash_floats(np.arange(n, dtype=np.float64))).estimate()
        assert abs(estimate - n) <= max(1.0, HLL_TOLERANCE * n)


PINNED_STRINGS = [16294208416658607535, 3240720363245657029, 19402733846654508]
PINNED_FLOATS = [16294208416658607535, 16294208416658607535, 13595183283774055825]


def test_dates_round_trip():
    frame = pl.DataFrame({"d": [date(2020, 1, 1), date(2021, 6, 30), None]})
    profile = Profile.from_json(profile_frame(frame).to_json())
    summary = profile.summary()["columns"]["d"]
    assert (summary["min"], summary["max"], summary["nulls"]) == ("2020-01-01", "2021-06-30", 1)
    assert summary["top"] == [["2020-01-01", 1], ["2021-06-30", 1]]


def test_infinities_and_nans_are_counted_apart():
    values = [1.0, float("inf"), float("-inf"), float("nan"), 3.0, None]
    column = Profile.from_json(profile_frame(pl.DataFrame({"x": values})).to_json()).columns["x"]
    assert (column.count, column.nulls, column.nans, column.infinities) == (5, 1, 1, 2)
    assert (column.moments.n, column.moments.mean, column.moments.min) == (2, 2.0, 1.0)
    summary = column.summary()
    assert (summary["nans"], summary["infinities"], summary["distinct"]) == (1, 2, 2)
