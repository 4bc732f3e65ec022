"""Workload C (data validation) for tandem: the shared 42-check contract, written as an ODCS v3.1
contract, parsed by tandem and validated with `tandem.data.validate`, reported with the shared
harness protocol (same bench strings as the polars/pandera/GX adapters, tool "tandem").

  validate 5M x 20, 42 checks   the table read into memory first (pl.read_parquet, untimed),
                                then `validate(contract, frame)`               -> rows/s
  read parquet + validate       `validate(contract, pl.scan_parquet(path))`: the lazy scan reads
                                only what the checks need, in one streaming pass -> rows/s
  --conformance                 the small every-check-violated file: are the failing checks
                                exactly the specified ones?

The timed `validate` calls include everything tandem does for a verdict: compiling the contract
into one Polars query, the pass itself and, for failed checks, fetching up to 5 masked failing
examples. Parsing the contract (a few ms) is not timed, as no adapter times building its schema.

    .venv/bin/python benchmarks/validation_tandem.py [--conformance] [--data PATH]
    python3 /work/shared/bench/harness/runner.py --repeat 3 -- \\
        .venv/bin/python benchmarks/validation_tandem.py

The shared bench folder is $BENCH_SHARED (default /work/shared/bench). Data are generated into
/tmp/bench-c with its make_data.py when missing.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
import yaml

SHARED = Path(os.environ.get("BENCH_SHARED", "/work/shared/bench"))
sys.path.insert(0, str(SHARED / "c_validation"))  # before this folder: its common.py wins

import common as shared  # noqa: E402 - the shared workload-C harness
import make_data  # noqa: E402
from contract import CHECKS, COLUMNS, CONFORMANCE_FAILURES, EXPECTED_FAILURES  # noqa: E402

from tandem.data.contract import load_contract  # noqa: E402
from tandem.data.validate import ValidationResult, validate  # noqa: E402

CONTRACT_PATH = "/tmp/bench-c/contract.odcs.yaml"
# The shared contract's logical types as ODCS logical/physical types.
TYPES = {
    "int64": ("integer", "int64"),
    "int32": ("integer", "int32"),
    "float64": ("number", "float64"),
    "category": ("string", "category"),
    "string": ("string", "string"),
    "timestamp": ("timestamp", "timestamp"),
    "bool": ("boolean", "boolean"),
}


def odcs_contract() -> tuple[dict[str, Any], dict[str, str]]:
    """The 42 CHECKS as an ODCS document, and which tandem check id answers each check."""
    props: dict[str, dict[str, Any]] = {}
    answer: dict[str, str] = {}
    for name, logical in COLUMNS.items():
        kind, physical = TYPES[logical]
        props[name] = {"name": name, "logicalType": kind, "physicalType": physical}
    rules: list[dict[str, Any]] = []
    for check in CHECKS:
        cid, kind, col = check["id"], check["kind"], check.get("column")
        if kind == "row_count":
            rules.append({"id": cid, "metric": "rowCount", "mustBe": check["value"]})
            answer[cid] = cid
        elif kind == "columns_exact":
            answer[cid] = "columns"
        elif kind == "dtype":
            answer[cid] = f"{col}:type"
        elif kind == "not_null":
            props[col]["required"] = True
            answer[cid] = f"{col}:required"
        elif kind == "unique":
            props[col]["unique"] = True
            answer[cid] = f"{col}:unique"
        elif kind == "between":
            low, high = check["min"], check["max"]
            if isinstance(low, datetime):
                low, high = low.isoformat(), high.isoformat()
            props[col]["logicalTypeOptions"] = {"minimum": low, "maximum": high}
            answer[cid] = f"{col}:range"
        elif kind == "regex":
            props[col]["logicalTypeOptions"] = {"pattern": check["pattern"]}
            answer[cid] = f"{col}:pattern"
        elif kind == "in_set":
            props[col]["quality"] = [
                {
                    "id": cid,
                    "metric": "invalidValues",
                    "arguments": {"validValues": check["values"]},
                    "mustBe": 0,
                    "severity": "error",
                }
            ]
            answer[cid] = cid
        else:
            raise ValueError(check)
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "bench-c",
        "name": "Workload C synthetic table",
        "version": "1.0.0",
        "status": "active",
        "schema": [
            {
                "name": "table",
                "logicalType": "object",
                "customProperties": [{"property": "columnSet", "value": "ordered"}],
                "properties": list(props.values()),
                "quality": rules,
            }
        ],
    }
    return document, answer


def failing_ids(result: ValidationResult, answer: dict[str, str]) -> list[str]:
    by_tandem_id = {tandem_id: cid for cid, tandem_id in answer.items()}
    failed = []
    for check in result.checks:
        if check.passed is True:
            continue
        if check.id in by_tandem_id:
            failed.append(by_tandem_id[check.id])
        else:  # a check the shared contract does not have (column presence) must pass
            failed.append(f"unmapped:{check.id}")
    return sorted(failed)


def ensure_data(path: str, conformance: bool) -> None:
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not conformance:
        pq.write_table(make_data.build(make_data.N_ROWS), path)
        return
    # make_data.conformance() round-trips nanosecond timestamps through Python datetimes, which
    # pyarrow refuses without pandas; the same edits through microseconds, then back to ns.
    table = make_data.build(10_000)
    cols = {}
    for name in table.column_names:
        col = table[name].combine_chunks()
        if name in make_data.CONFORMANCE_EDITS:
            work = (
                col.cast(pa.timestamp("us"), safe=False) if pa.types.is_timestamp(col.type) else col
            )
            values = work.to_pylist()
            for row, value in make_data.CONFORMANCE_EDITS[name]:
                values[row] = value
            col = pa.array(values, type=work.type).cast(col.type)
        cols[name] = col
    cols["quantity"] = cols["quantity"].cast(pa.int64())
    cols["extra"] = pa.array([0] * table.num_rows, type=pa.int64())
    pq.write_table(pa.table(cols), path)


def main() -> None:
    ap = shared.parser()
    ap.add_argument(
        "--only",
        choices=["memory", "lazy"],
        help="run one of the two measurements (e.g. to see the lazy path's own peak memory)",
    )
    args = ap.parse_args()
    document, answer = odcs_contract()
    os.makedirs(os.path.dirname(CONTRACT_PATH), exist_ok=True)
    with open(CONTRACT_PATH, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document, handle, sort_keys=False)
    contract = load_contract(CONTRACT_PATH)  # the real path: YAML -> parser -> model
    tool, tool_version = "tandem", version("tandem")
    notes = (
        f"ODCS v3.1 contract from YAML ({len(CHECKS)} checks); one streaming select; "
        f"polars {pl.__version__}"
    )
    if args.conformance:
        path = args.data or shared.CONFORMANCE_DATA
        ensure_data(path, conformance=True)
        failed = failing_ids(validate(contract, pl.scan_parquet(path)), answer)
        wrong = sorted(set(failed) ^ set(CONFORMANCE_FAILURES))
        shared.emit(
            "C",
            "conformance: check outcomes as specified",
            tool,
            tool_version,
            len(CHECKS) - len(wrong),
            f"of {len(CHECKS)}",
            failed=failed,
            wrong=wrong,
            correct=not wrong,
            notes=notes,
        )
        return
    path = args.data or shared.DEFAULT_DATA
    ensure_data(path, conformance=False)
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    outcomes: dict[str, list[str]] = {}
    if args.only in (None, "memory"):
        t0 = time.perf_counter()
        frame = pl.read_parquet(path)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = validate(contract, frame)
        t_val = time.perf_counter() - t0
        failed = outcomes["in memory"] = failing_ids(result, answer)
        shared.emit(
            "C",
            f"validate {rows // 10**6}M x 20, {len(CHECKS)} checks",
            tool,
            tool_version,
            rows / t_val,
            "rows/s",
            seconds=t_val,
            load_s=t_load,
            rows=rows,
            checks=len(CHECKS),
            failed=failed,
            correct=failed == EXPECTED_FAILURES,
            notes=f"{notes}; in memory (pl.read_parquet untimed, as the other adapters)",
        )
        del frame, result
    if args.only in (None, "lazy"):
        t0 = time.perf_counter()
        result = validate(contract, pl.scan_parquet(path))
        t_scan = time.perf_counter() - t0
        failed = outcomes["lazy"] = failing_ids(result, answer)
        shared.emit(
            "C",
            "read parquet + validate",
            tool,
            tool_version,
            rows / t_scan,
            "rows/s",
            seconds=t_scan,
            rows=rows,
            checks=len(CHECKS),
            failed=failed,
            correct=failed == EXPECTED_FAILURES,
            notes=f"{notes}; lazy scan_parquet: read and validated in one streaming pass",
        )
    for name, got in outcomes.items():
        if got != EXPECTED_FAILURES:
            print(f"WARNING tandem ({name}): failing {got} != {EXPECTED_FAILURES}", file=sys.stderr)


if __name__ == "__main__":
    main()
