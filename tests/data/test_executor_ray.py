"""Executors: the local one, choosing by TANDEM_EXECUTOR, and profiling and validating across a
real (local) Ray cluster, whose result must equal the local one exactly: the same parts,
profiled and merged the same way, give the same JSON, byte for byte; validating the parts gives
what validating the whole table gives."""

from __future__ import annotations

import operator
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from contract_world import BROKEN_TELCO_COUNTS, broken_telco, telco_contract
from stats_world import read_adult, read_telco

from tandem.core.executor import LocalExecutor, RayExecutor, executor_named
from tandem.data.contract import parse_contract
from tandem.data.frames import TableFormat, TablePart, scan_part, table_parts
from tandem.data.profile import merge_profiles, profile_files, profile_frame
from tandem.data.validate import ValidationResult, validate_parts, validate_table
from tandem.errors import InvalidInput, UnreadableData

# Under xdist these run on one worker, after each other: one local Ray cluster at a time.
pytestmark = pytest.mark.xdist_group("ray")


def square(x: int) -> int:
    return x * x


def test_local_executor_keeps_order():
    items = list(range(50))
    assert LocalExecutor().map(square, items) == [x * x for x in items]
    assert LocalExecutor(workers=4).map(square, items) == [x * x for x in items]
    assert LocalExecutor(workers=4).map(square, []) == []


@pytest.fixture(scope="module")
def ray_executor():
    import ray  # a dev dependency: its absence fails the tests, it does not skip them

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
        executor_named("ray")


@pytest.mark.slow
def test_ray_validation_equals_validating_the_whole_table(
    ray_executor: RayExecutor, tmp_path: Path
):
    broken = broken_telco()  # planted failures of every kind, duplicates across parts included
    contract = telco_contract()
    csv, parquet = [], []
    for i, offset in enumerate(range(0, broken.height, 1_000)):
        part = broken.slice(offset, 1_000)
        csv.append(tmp_path / f"telco-{i}.csv")
        part.write_csv(csv[-1])
        parquet.append(tmp_path / f"telco-{i}.parquet")
        part.write_parquet(parquet[-1])
    for paths, fmt in ((csv, TableFormat.CSV), (parquet, TableFormat.PARQUET)):
        whole = validate_table(paths, fmt, contract)
        local = validate_parts(contract, paths, fmt, LocalExecutor())
        distributed = validate_parts(contract, paths, fmt, ray_executor)
        assert distributed.to_json() == whole.to_json() == local.to_json()
        failed = {c.id: c.observed for c in distributed.failures if c.id in BROKEN_TELCO_COUNTS}
        assert failed == BROKEN_TELCO_COUNTS
        assert distributed.rows == broken.height


@pytest.mark.slow
def test_ray_validation_merges_newest_values_and_pii_shares(
    ray_executor: RayExecutor, tmp_path: Path
):
    contract = parse_contract("""\
apiVersion: v3.1.0
kind: DataContract
id: notes
version: 1.0.0
status: active
schema:
  - name: notes
    properties:
      - name: at
        logicalType: timestamp
        quality:
          - id: fresh
            metric: freshness
            mustBeLessThan: 36
            unit: hours
      - name: note
        logicalType: string
        classification: public
      - name: n
        logicalType: integer
        quality:
          - id: positive
            type: sql
            query: n > 0
          - id: broken_sql
            type: sql
            query: CAST(note AS INTEGER) > 0
""")
    day = partial(datetime, 2026, 11, tzinfo=UTC)
    parts = [
        {"at": [day(20, 8)], "note": ["mail bob@corp.example.org"], "n": [1]},
        {"at": [day(22, 8), None], "note": [None, "fine"], "n": [-1, 2]},
        {"at": [day(21)], "note": ["call +44 20 7946 0958"], "n": [3]},
    ]
    paths = []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"notes-{i}.parquet")
        pl.DataFrame(part).write_parquet(paths[-1])
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    whole = validate_table(paths, TableFormat.PARQUET, contract, now=now)
    distributed = validate_parts(contract, paths, TableFormat.PARQUET, ray_executor, now=now)
    assert _settled(distributed) == _settled(whole)
    assert distributed.check("fresh").observed == 28.0  # hours since the newest, in part 2
    public = distributed.check("note:classification")  # 1 e-mail, 1 phone in 3 non-null notes
    assert public.observed == {
        "email": pytest.approx(33.333, abs=1e-3),
        "phone": pytest.approx(33.333, abs=1e-3),
    }
    assert distributed.check("positive").observed == 1
    for result in (distributed, whole):  # fails on the data (which row Polars names varies)
        broken = result.check("broken_sql")
        assert broken.passed is None
        assert broken.message.startswith("not run: fails on this table: conversion from `str`")


def _settled(result: ValidationResult) -> list[dict]:
    """Every check's outcome, without the wording of errors met on the data."""
    return [
        {**c, "message": None} if c["passed"] is None else c for c in result.to_json()["checks"]
    ]


def test_table_parts_split_large_parquet_files_on_row_groups(tmp_path: Path):
    frame = pl.DataFrame({"x": range(10_000)})
    frame.write_parquet(tmp_path / "big.parquet", row_group_size=1_000)  # 10 row groups
    frame.head(500).write_parquet(tmp_path / "small.parquet")
    paths = [tmp_path / "big.parquet", tmp_path / "small.parquet"]
    parts = table_parts(paths, TableFormat.PARQUET, part_rows=3_000)
    # runs of whole row groups of at least 3,000 rows; the short tail joins the last run
    assert [(p.path.name, p.offset, p.rows) for p in parts] == [
        ("big.parquet", 0, 3_000), ("big.parquet", 3_000, 3_000),
        ("big.parquet", 6_000, 4_000), ("small.parquet", 0, None),
    ]  # fmt: skip
    read = pl.concat([scan_part(p, TableFormat.PARQUET).collect() for p in parts])
    assert read["x"].to_list() == [*range(10_000), *range(500)]
    assert table_parts(paths, TableFormat.CSV) == [TablePart(p) for p in paths]
    with pytest.raises(UnreadableData, match="cannot read the table"):
        table_parts([tmp_path / "missing.parquet"], TableFormat.PARQUET)


@pytest.mark.slow
def test_ray_splits_one_large_parquet_file_by_row_groups(ray_executor: RayExecutor, tmp_path: Path):
    adult = read_adult()
    path = tmp_path / "adult.parquet"
    adult.write_parquet(path, row_group_size=4_000)  # 30,162 rows: 8 row groups, 3 tasks
    assert len(table_parts([path], TableFormat.PARQUET, part_rows=8_000)) == 3
    local = profile_files([path], TableFormat.PARQUET, LocalExecutor(), part_rows=8_000)
    distributed = profile_files([path], TableFormat.PARQUET, ray_executor, part_rows=8_000)
    assert distributed.to_json() == local.to_json()
    assert distributed.rows == adult.height

    broken = broken_telco()
    path = tmp_path / "telco.parquet"
    broken.write_parquet(path, row_group_size=1_000)
    contract = telco_contract()
    whole = validate_table([path], TableFormat.PARQUET, contract)
    split = validate_parts(contract, [path], TableFormat.PARQUET, ray_executor, part_rows=2_000)
    assert split.to_json() == whole.to_json()
    assert {c.id: c.observed for c in split.failures if c.id in BROKEN_TELCO_COUNTS} == (
        BROKEN_TELCO_COUNTS
    )
