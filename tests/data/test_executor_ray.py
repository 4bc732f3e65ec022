"""Executors: the local one, choosing by TANDEM_EXECUTOR, and profiling across a real (local)
Ray cluster, whose result must equal the local one exactly: the same parts, profiled and merged
the same way, give the same JSON, byte for byte."""

from __future__ import annotations

import operator
import sys
from pathlib import Path

import polars as pl
import pytest
from stats_world import read_adult, read_telco

from tandem.data.executor import LocalExecutor, RayExecutor, executor_from_settings
from tandem.data.frames import TableFormat
from tandem.data.profile import merge_profiles, profile_files, profile_frame
from tandem.errors import InvalidInput, UnreadableData


def square(x: int) -> int:
    return x * x


def test_local_executor_keeps_order():
    items = list(range(50))
    assert LocalExecutor().map(square, items) == [x * x for x in items]
    assert LocalExecutor(workers=4).map(square, items) == [x * x for x in items]
    assert LocalExecutor(workers=4).map(square, []) == []


def test_executor_from_settings():
    assert isinstance(executor_from_settings(environ={}), LocalExecutor)
    assert isinstance(executor_from_settings(environ={"TANDEM_EXECUTOR": " Local "}), LocalExecutor)
    assert isinstance(executor_from_settings(environ={"TANDEM_EXECUTOR": "ray"}), RayExecutor)
    assert isinstance(executor_from_settings("local", {"TANDEM_EXECUTOR": "ray"}), LocalExecutor)
    with pytest.raises(InvalidInput, match="TANDEM_EXECUTOR must be 'local' or 'ray'"):
        executor_from_settings(environ={"TANDEM_EXECUTOR": "spark"})


@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    executor = RayExecutor(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield executor
    ray.shutdown()


@pytest.mark.slow
def test_ray_profile_equals_local(ray_executor: RayExecutor, tmp_path: Path):
    adult = read_adult()
    parquet = []
    for i, offset in enumerate(range(0, adult.height, 5_000)):  # 7 files, one task each
        parquet.append(tmp_path / f"adult-{i}.parquet")
        adult.slice(offset, 5_000).write_parquet(parquet[-1])
    local = profile_files(parquet, TableFormat.PARQUET, LocalExecutor())
    distributed = profile_files(parquet, TableFormat.PARQUET, ray_executor)
    assert distributed.to_json() == local.to_json()
    # and both are the profile of the whole table (exact parts equal, sketches within bounds)
    whole = profile_frame(adult)
    for name, column in distributed.columns.items():
        assert (column.rows, column.nulls, column.moments.min, column.moments.max) == (
            whole.columns[name].rows, whole.columns[name].nulls,
            whole.columns[name].moments.min, whole.columns[name].moments.max,
        )  # fmt: skip
        if column.is_exact:
            assert column.counts is not None
            assert column.counts.equals(whole.columns[name].counts)

    telco = read_telco()
    csv = []
    for i, offset in enumerate(range(0, telco.height, 1_500)):  # most parts have no blank
        csv.append(tmp_path / f"telco-{i}.csv")
        telco.slice(offset, 1_500).write_csv(csv[-1])
    local = profile_files(csv, TableFormat.CSV, LocalExecutor())
    distributed = profile_files(csv, TableFormat.CSV, ray_executor)
    assert distributed.to_json() == local.to_json()
    assert distributed.columns["TotalCharges"].dtype == "String"
    assert distributed.rows == telco.height


@pytest.mark.slow
def test_ray_raises_tandem_errors_as_themselves(ray_executor: RayExecutor, tmp_path: Path):
    good = tmp_path / "good.parquet"
    pl.DataFrame({"x": [1, 2]}).write_parquet(good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 but not really")
    with pytest.raises(UnreadableData, match="cannot read the table"):
        profile_files([good, bad], TableFormat.PARQUET, ray_executor)
    # functions travel by reference to their module: it must be importable on the workers
    assert ray_executor.map(operator.neg, [3, 4]) == [-3, -4]
    assert merge_profiles(ray_executor.map(profile_frame, [pl.DataFrame({"x": [1]})] * 3)).rows == 3


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the extra
    with pytest.raises(InvalidInput, match=r"pip install 'tandem\[ray\]'"):
        executor_from_settings("ray")
