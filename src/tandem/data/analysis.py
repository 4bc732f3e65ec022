"""What the data service computes from a version's files: schema, profile, PII findings and the
contract's verdict, and the comparison of two versions.

The one place the service meets the statistics (`profile`, `drift`), contract (`contract`,
`validate`) and PII (`pii`) modules, imported lazily so that starting the CLI or the server
does not load Polars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.data.frames import TableFormat
from tandem.data.limits import (
    Budget,
    DataLimits,
    budget,
    check_columns,
    check_header_columns,
)
from tandem.errors import InvalidInput

if TYPE_CHECKING:
    from tandem.data.contract import Contract
    from tandem.data.models import DatasetVersion


@dataclass
class Analysis:
    format: str | None = None
    rows: int | None = None
    schema: list[dict[str, str]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    pii: list[dict[str, Any]] | None = None
    validation: dict[str, Any] | None = None
    passed: bool = True
    blocking_failures: list[str] = field(default_factory=list)


def parse_contract(text: str) -> Contract:
    """Parse ODCS YAML (raises InvalidContract naming the line and field)."""
    from tandem.data.contract import parse_contract as parse

    return parse(text, "contract")


def analyse(
    paths: Sequence[Path],
    fmt: TableFormat | None,
    contract: str | None,
    executor: str = "local",
    limits: DataLimits | None = None,
) -> Analysis:
    """Profile, scan and (with a contract) validate the table in `paths`, on `executor`
    ("local" or "ray": one task per file, then a merge; the result is the same). Files that
    are not one table format are versioned as plain files: no profile, and no contract.

    Raises:
        LimitExceeded: more columns than `limits.max_columns`, or the work took longer than
            `limits.budget_seconds` (it is stopped, not left running).
    """
    if fmt is None:
        if contract is not None:
            raise InvalidInput(
                "a contract applies to a table: CSV, Parquet or JSON Lines files of one kind"
            )
        return Analysis()
    from tandem.core.executor import executor_named
    from tandem.data.pii import scan_pii
    from tandem.data.profile import profile_files

    limits = limits or DataLimits()
    with budget(Budget.start("profiling the table", limits.budget_seconds)):
        schema = _checked_schema(paths, fmt, limits)
        runner = executor_named(executor)
        # one task per file, merged in file order, so every executor gives the same profile
        profile = profile_files(list(paths), fmt, runner, schema=schema)
        profile_json = profile.to_json()
        findings = [f.to_json() for f in scan_pii(list(paths), fmt)]
    analysis = Analysis(
        format=fmt.value,
        rows=profile.rows,
        schema=[
            {"name": name, "type": str(col.get("type", ""))}
            for name, col in profile_json["columns"].items()
        ],
        profile=profile_json,
        pii=findings,
    )
    if contract is not None:
        with budget(Budget.start("validating the table", limits.budget_seconds)):
            result, passed, blocking = _validate(paths, fmt, contract, findings, executor)
        analysis.validation = result
        analysis.passed = passed
        analysis.blocking_failures = blocking
    return analysis


def _validate(
    paths: Sequence[Path],
    fmt: TableFormat,
    contract: str,
    pii: list[dict[str, Any]] | None,
    executor: str,
) -> tuple[dict[str, Any], bool, list[str]]:
    from tandem.core.executor import executor_named
    from tandem.data.validate import validate_parts, validate_table

    parsed = parse_contract(contract)
    if executor == "local":  # one pass over all the files: no merge to pay for
        result = validate_table(list(paths), fmt, parsed, pii=pii)
    else:
        result = validate_parts(parsed, list(paths), fmt, executor_named(executor), pii=pii)
    return result.to_json(), result.passed, [c.id for c in result.blocking_failures]


def validate_files(
    paths: Sequence[Path],
    fmt: TableFormat,
    contract: str,
    executor: str = "local",
    limits: DataLimits | None = None,
) -> tuple[dict[str, Any], bool, bool]:
    """Validate stored files against `contract`: (result, passed, a blocking check failed).

    Raises:
        LimitExceeded: as for `analyse`.
    """
    limits = limits or DataLimits()
    with budget(Budget.start("validating the table", limits.budget_seconds)):
        _checked_schema(paths, fmt, limits)
        result, passed, blocking = _validate(paths, fmt, contract, None, executor)
    return result, passed, bool(blocking)


def _checked_schema(paths: Sequence[Path], fmt: TableFormat, limits: DataLimits) -> Any:
    """The table's schema, once its width is known to be within the limit: a CSV header is
    counted before Polars infers types from its rows (20,000 columns take seconds to infer),
    then the inferred schema is counted (JSON lines can gain a column per row)."""
    from tandem.data.frames import read_schema

    if fmt is TableFormat.CSV:
        check_header_columns(paths, limits)
    schema = read_schema(paths, fmt)
    check_columns(len(schema), limits, "the table")
    return schema


def draft_contract(profile: dict[str, Any], name: str, pii: list[dict[str, Any]]) -> str:
    from tandem.data.contract import draft_contract as draft

    return draft(profile, name, pii=pii)


def compare_versions(
    a: DatasetVersion,
    profile_a: dict[str, Any] | None,
    b: DatasetVersion,
    profile_b: dict[str, Any] | None,
) -> dict[str, Any]:
    """Schema changes, row counts and drift from `a` to `b`, from their stored profiles."""
    schema_a = {c["name"]: c["type"] for c in a.schema_}
    schema_b = {c["name"]: c["type"] for c in b.schema_}
    changes = [f"added {n} ({t})" for n, t in schema_b.items() if n not in schema_a]
    changes += [f"removed {n} ({t})" for n, t in schema_a.items() if n not in schema_b]
    changes += [
        f"{n}: {schema_a[n]} -> {schema_b[n]}"
        for n in schema_a
        if n in schema_b and schema_a[n] != schema_b[n]
    ]
    report: dict[str, Any] = {
        "a": a.ref,
        "b": b.ref,
        "rows": {"a": a.rows, "b": b.rows},
        "schema_changes": changes,
        "drift": None,
    }
    if profile_a is not None and profile_b is not None:
        from tandem.data.drift import compare_profiles
        from tandem.data.profile import Profile

        drift = compare_profiles(Profile.from_json(profile_a), Profile.from_json(profile_b))
        report["drift"] = drift.to_json()
    return report
