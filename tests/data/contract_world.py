"""Shared pieces of the contract, validation and PII tests: the real datasets, the example
contracts, a planted-violations copy of each, and pandera (the reference implementation) run
over the same contract.

Imported by module name (pytest puts this folder on sys.path), not through a conftest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from tandem.data.contract import Contract, SchemaObject, load_contract

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
TELCO_CSV = REAL_DATA / "telco-churn.csv"
ADULT_CSV = REAL_DATA / "adult.csv"
TELCO_CONTRACT = ROOT / "examples" / "contracts" / "telco-churn.yaml"
ADULT_CONTRACT = ROOT / "examples" / "contracts" / "adult.yaml"

MINIMAL = """\
apiVersion: v3.1.0
kind: DataContract
id: customers
version: 1.0.0
status: active
schema:
  - name: customers
    properties:
      - name: id
        logicalType: integer
        required: true
      - name: email
        logicalType: string
"""


def telco() -> pl.DataFrame:
    return pl.read_csv(TELCO_CSV, infer_schema_length=10_000)


def adult() -> pl.DataFrame:
    return pl.read_csv(ADULT_CSV, infer_schema_length=10_000)


def telco_contract() -> Contract:
    return load_contract(str(TELCO_CONTRACT))


def adult_contract() -> Contract:
    return load_contract(str(ADULT_CONTRACT))


def set_rows(frame: pl.DataFrame, column: str, edits: dict[int, Any]) -> pl.DataFrame:
    """`frame` with `column` set to the given values at the given row numbers."""
    values = frame[column].to_list()
    for row, value in edits.items():
        values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame[column].dtype))


def broken_telco() -> pl.DataFrame:
    """Telco with planted violations (counts in BROKEN_TELCO_COUNTS)."""
    frame = telco()
    frame = set_rows(frame, "gender", {3: None, 10: None, 11: "F"})  # 2 nulls, 1 not allowed
    frame = set_rows(frame, "tenure", {5: -1, 6: 80, 7: 99})  # 3 out of [0, 72]
    frame = set_rows(frame, "customerID", {20: "1234-abcde", 21: "12345-ABCDE"})  # pattern
    frame = set_rows(
        frame, "customerID", {30: frame["customerID"][31], 40: frame["customerID"][41]}
    )
    frame = set_rows(frame, "Contract", {50: "Three year", 51: "Monthly"})
    frame = set_rows(frame, "MonthlyCharges", {60: 0.0, 61: 250.0, 62: None})  # (0, 200]
    frame = set_rows(frame, "SeniorCitizen", {70: 2})
    return frame


BROKEN_TELCO_COUNTS = {
    "gender:required": 2,
    "gender:invalidValues": 1,
    "tenure:range": 3,
    "customerID:pattern": 2,
    "customerID:unique": 2,
    "Contract:invalidValues": 2,
    "MonthlyCharges:range": 2,
    "MonthlyCharges:required": 1,
    "MonthlyCharges:nullValues": 1,
    "SeniorCitizen:invalidValues": 1,
}


def broken_adult() -> pl.DataFrame:
    frame = adult()
    frame = set_rows(frame, "age", {0: 12, 1: 95, 2: None})
    frame = set_rows(frame, "race", {5: "Martian", 6: None})
    frame = set_rows(frame, "income", {7: ">=50K", 8: "50K"})
    frame = set_rows(frame, "hr_per_week", {9: 0, 10: 120})
    return frame


BROKEN_ADULT_COUNTS = {
    "age:range": 2,
    "age:required": 1,
    "race:invalidValues": 1,
    "race:required": 1,
    "income:pattern": 2,
    "hr_per_week:range": 2,
}


# -- pandera, the reference ---------------------------------------------------------------------


def pandera_counts(obj: SchemaObject, frame: pl.DataFrame) -> dict[str, int]:
    """Violations per tandem check id, as pandera[polars] counts them, for the checks both
    tools have: not-null, ranges, allowed values, full-match patterns and uniqueness.

    pandera reports every copy of a duplicated value; tandem counts the copies after the first,
    so for `unique` this returns pandera's failure rows minus pandera's distinct failing values.
    """
    import pandera.polars as pa

    columns: dict[str, Any] = {}
    names: dict[tuple[str, str], str] = {}
    for prop in obj.properties:
        checks = []
        opts = prop.options
        low, high = opts.get("minimum"), opts.get("maximum")
        if "exclusiveMinimum" in opts and not isinstance(opts["exclusiveMinimum"], bool):
            low = opts["exclusiveMinimum"]
        if low is not None or high is not None:
            exclusive = "exclusiveMinimum" in opts
            checks.append(
                pa.Check.in_range(
                    low if low is not None else float("-inf"),
                    high if high is not None else float("inf"),
                    include_min=not exclusive,
                )
            )
        if "pattern" in opts:
            checks.append(pa.Check.str_matches(f"^(?:{opts['pattern']})$"))
        for rule in prop.quality:
            valid = rule.arguments.get("validValues")
            if rule.metric == "invalidValues" and valid is not None and rule.unit == "rows":
                checks.append(pa.Check.isin(valid))
        columns[prop.name] = pa.Column(
            frame.schema[prop.name],
            checks=checks,
            nullable=not prop.required,
            unique=prop.unique or prop.primary_key,
        )
        names[(prop.name, "not_nullable")] = f"{prop.name}:required"
        names[(prop.name, "field_uniqueness")] = f"{prop.name}:unique"
    schema = pa.DataFrameSchema(columns)
    counts: dict[str, int] = {}
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = error.failure_cases
        for (column, check), group in cases.group_by(["column", "check"]):
            kind = str(check).split("(", 1)[0]
            key = names.get((str(column), kind)) or f"{column}:{PANDERA_NAMES[kind]}"
            if key.endswith(":unique"):
                counts[key] = group.height - group["failure_case"].n_unique()
            else:
                counts[key] = group.height
    return counts


def tandem_counts(result: Any, kinds: set[str]) -> dict[str, int]:
    """Failed checks of the kinds pandera also has, as {id: violations}."""
    return {
        c.id: int(c.observed)
        for c in result.checks
        if c.passed is False and c.kind in kinds and c.unit == "rows"
    }


PANDERA_KINDS = {"required", "range", "pattern", "invalidValues", "unique"}
PANDERA_NAMES = {"in_range": "range", "str_matches": "pattern", "isin": "invalidValues"}
