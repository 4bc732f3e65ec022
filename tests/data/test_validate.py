"""Validating tables against contracts: real data, planted violations, pandera as the reference."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from contract_world import (
    ADULT_CSV,
    BROKEN_ADULT_COUNTS,
    BROKEN_TELCO_COUNTS,
    MINIMAL,
    PANDERA_KINDS,
    TELCO_CSV,
    adult,
    adult_contract,
    broken_adult,
    broken_telco,
    pandera_counts,
    tandem_counts,
    telco,
    telco_contract,
)

from tandem.data.contract import parse_contract
from tandem.data.frames import TableFormat
from tandem.data.pii import PiiFinding, PiiKind
from tandem.data.validate import ValidationResult, holds, validate, validate_table
from tandem.errors import UnreadableData


def test_the_real_telco_file_passes_its_contract():
    result = validate_table([TELCO_CSV], TableFormat.CSV, telco_contract())
    assert result.rows == 7043
    assert result.passed
    assert result.failures == []
    by_id = {c.id: c for c in result.checks}
    assert by_id["row_count"].observed == 7043
    assert by_id["churn_rate_plausible"].observed == 1869  # SELECT COUNT(*) ... WHERE Churn
    # The 11 blank TotalCharges: 0.156 % of rows, under the rule's 0.5 %.
    assert by_id["TotalCharges:missingValues"].observed == pytest.approx(100 * 11 / 7043, 1e-5)
    assert by_id["TotalCharges:missingValues"].unit == "percent"
    assert by_id["customers:text"].passed is None  # text rules are kept, not run
    assert by_id["columns"].passed is True
    kinds = {c.kind for c in result.checks}
    assert kinds >= {"present", "type", "required", "unique", "range", "pattern", "length"}
    assert kinds >= {"rowCount", "duplicateValues", "invalidValues", "missingValues", "sql"}
    assert kinds >= {"custom", "nullValues", "columns"}


def test_the_real_adult_file_passes_with_one_warning_the_source_really_has():
    result = validate_table([ADULT_CSV], TableFormat.CSV, adult_contract())
    assert result.rows == 30162
    assert result.passed
    [failure] = result.failures
    assert (failure.id, failure.severity, failure.observed) == ("spouse_matches_sex", "warning", 2)
    # relationship and sex are classified confidential/restricted: masked in the examples
    assert [e["row"] for e in failure.examples] == [2521, 17020]
    assert failure.examples[0]["values"] == {"relationship": "W***", "sex": "M***"}
    by_id = {c.id: c for c in result.checks}
    assert by_id["few_duplicate_rows"].observed == pytest.approx(100 * 23 / 30162, 1e-5)
    assert by_id["income_share_high"].observed == pytest.approx(100 * 7508 / 30162, 1e-5)
    assert by_id["education_num_matches_education"].passed is True


def test_planted_violations_in_telco_fail_exactly_the_right_checks():
    result = validate(telco_contract(), broken_telco())
    assert not result.passed
    failed = {c.id: c.observed for c in result.failures}
    assert failed == BROKEN_TELCO_COUNTS
    assert {c.id for c in result.blocking_failures} == set(BROKEN_TELCO_COUNTS)
    tenure = result.check("tenure:range")
    assert tenure.description == "tenure in [0, 72]"
    assert tenure.expected == {"mustBe": 0}
    assert tenure.message == "3 of 7043 rows fail: tenure in [0, 72]"
    assert tenure.examples == [
        {"row": 5, "values": {"tenure": -1}},
        {"row": 6, "values": {"tenure": 80}},
        {"row": 7, "values": {"tenure": 99}},
    ]
    # customerID is classified confidential: its values never show in full.
    pattern = result.check("customerID:pattern")
    assert [e["values"]["customerID"] for e in pattern.examples] == ["1***", "1***"]
    duplicates = result.check("customerID:unique")
    assert {e["row"] for e in duplicates.examples} <= {30, 31, 40, 41}
    assert len(duplicates.examples) >= 2


def test_planted_violations_in_adult_fail_exactly_the_right_checks():
    result = validate(adult_contract(), broken_adult())
    failed = {c.id: c.observed for c in result.failures if c.id != "spouse_matches_sex"}
    assert failed == BROKEN_ADULT_COUNTS
    # `age` is restricted: a range failure shows masked ages
    assert [e["values"]["age"] for e in result.check("age:range").examples] == ["1***", "9***"]


@pytest.mark.parametrize(
    ("frame", "contract"),
    [
        (telco, telco_contract),
        (adult, adult_contract),
        (broken_telco, telco_contract),
        (broken_adult, adult_contract),
    ],
    ids=["telco", "adult", "broken-telco", "broken-adult"],
)
def test_violation_counts_agree_with_pandera(frame, contract):
    data, parsed = frame(), contract()
    result = validate(parsed, data)
    assert tandem_counts(result, PANDERA_KINDS) == pandera_counts(parsed.object(), data)


def test_a_lazy_scan_and_a_frame_give_the_same_result():
    lazy = validate(telco_contract(), pl.scan_csv(TELCO_CSV, infer_schema_length=10_000))
    eager = validate(telco_contract(), telco())
    assert lazy.to_json() == eager.to_json()


def test_results_round_trip_through_json():
    result = validate(telco_contract(), broken_telco())
    stored = json.loads(json.dumps(result.to_json()))
    again = ValidationResult.from_json(stored)
    assert again == result
    assert ValidationResult.from_json(json.dumps(stored)) == result
    assert [c.id for c in again.blocking_failures] == [c.id for c in result.blocking_failures]
    with pytest.raises(KeyError):
        result.check("no-such-check")


def test_a_missing_column_is_a_failed_check_not_a_crash():
    data = telco().drop("tenure").with_columns(pl.lit(1).alias("extra"))
    result = validate(telco_contract(), data)
    present = result.check("tenure:present")
    assert (present.passed, present.message) == (False, "column 'tenure' is missing from the data")
    assert present.is_blocking
    for check_id in ("tenure:type", "tenure:required", "tenure:range"):
        check = result.check(check_id)
        assert check.passed is None
        assert check.message in ("", "not run: column 'tenure' is missing")
    columns = result.check("columns")
    assert columns.passed is False
    assert columns.message == "columns not in the contract: extra"
    # a rule that reads the missing column is not run; the others still are
    assert result.check("total_charges_blank_only_when_new").passed is None
    assert result.check("phone_lines_consistent").passed is True


def test_a_column_of_the_wrong_type_fails_its_type_check_and_skips_numeric_checks():
    data = telco().with_columns(pl.col("tenure").cast(pl.String))
    result = validate(telco_contract(), data)
    kind = result.check("tenure:type")
    assert (kind.passed, kind.observed) == (False, "String")
    assert kind.message == "tenure is String, expected integer / int64"
    assert result.check("tenure:range").passed is None
    assert "not a number" in result.check("tenure:range").message or "numbers" in (
        result.check("tenure:range").message
    )
    # the custom SQL comparing tenure with 0 no longer type-checks: reported, not raised
    blank = result.check("total_charges_blank_only_when_new")
    assert blank.passed is None
    assert blank.message.startswith("not run: does not apply to this table")


def test_a_custom_expression_that_fails_on_the_data_is_reported_not_raised():
    text = MINIMAL + (
        "    quality:\n"
        "      - id: strict_cast\n"
        "        type: sql\n"
        "        query: CAST(email AS INTEGER) > 0\n"
    )
    data = pl.DataFrame({"id": [1, 2], "email": ["7", "not a number"]})
    result = validate(parse_contract(text), data)
    check = result.check("strict_cast")
    assert check.passed is None
    assert check.message.startswith("not run: fails on this table: conversion from `str`")
    assert result.check("id:required").passed is True


def test_mixed_types_in_a_csv_column_are_unreadable_data(tmp_path):
    lines = ["id,email"] + [f"{i},a{i}@example.com" for i in range(12_000)] + ["oops,x@y.com"]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UnreadableData, match="mixed types in a column"):
        validate_table([path], TableFormat.CSV, parse_contract(MINIMAL))


def test_freshness_from_the_sla_and_from_a_quality_rule():
    text = """\
apiVersion: v3.1.0
kind: DataContract
id: events
version: 1.0.0
status: active
schema:
  - name: events
    properties:
      - name: at
        logicalType: timestamp
        quality:
          - id: fresh_rule
            metric: freshness
            mustBeLessThan: 36
            unit: hours
            severity: error
      - name: day
        logicalType: date
slaProperties:
  - property: latency
    value: 2
    unit: d
    element: events.day
"""
    contract = parse_contract(text)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    newest = now.replace(tzinfo=None) - timedelta(hours=30)
    data = pl.DataFrame(
        {"at": [newest - timedelta(days=3), newest], "day": [now.date() - timedelta(days=3)] * 2}
    )
    result = validate(contract, data, now=now)
    rule = result.check("fresh_rule")
    assert (rule.passed, rule.observed, rule.unit) == (True, 30.0, "hours")
    sla = result.check("day:freshness")
    assert (sla.passed, sla.observed, sla.unit, sla.severity) == (False, 3.5, "d", "warning")
    assert sla.message == "newest value is 3.5 d old; expected <= 2"
    later = validate(contract, data, now=now + timedelta(hours=7))
    assert later.check("fresh_rule").passed is False
    assert [c.id for c in later.blocking_failures] == ["fresh_rule"]


def test_severity_warning_on_a_property_makes_its_failures_non_blocking():
    text = MINIMAL.replace(
        "        required: true\n",
        "        required: true\n        customProperties:\n"
        "          - property: severity\n            value: warning\n",
    )
    result = validate(parse_contract(text), pl.DataFrame({"id": [1, None], "email": ["a", "b"]}))
    check = result.check("id:required")
    assert (check.passed, check.severity, check.is_blocking) == (False, "warning", False)
    assert result.passed


def _naive(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC).replace(tzinfo=None)


def test_ranges_patterns_lengths_formats_and_exclusive_bounds():
    text = """\
apiVersion: v3.0.2
kind: DataContract
id: t
version: 1.0.0
status: active
schema:
  - name: t
    properties:
      - name: score
        logicalType: number
        logicalTypeOptions: {minimum: 0, maximum: 1, exclusiveMaximum: true, multipleOf: 0.25}
      - name: code
        logicalType: string
        logicalTypeOptions: {pattern: '[A-Z]{2}', minLength: 2, maxLength: 2}
      - name: mail
        logicalType: string
        logicalTypeOptions: {format: email}
      - name: at
        logicalType: timestamp
        logicalTypeOptions: {minimum: '2024-01-01T00:00:00Z', exclusiveMaximum: '2025-01-01'}
"""
    data = pl.DataFrame(
        {
            "score": [0.0, 0.5, 1.0, 0.3, None],
            "code": ["AB", "ABC", "ab", "A", None],  # the pattern is a full match
            "mail": ["a@b.org", "x@y", "no", None, "z@w.io"],
            "at": [_naive(2023, 12, 31), _naive(2024, 6, 1), _naive(2025, 1, 1), None, None],
        }
    )
    result = validate(parse_contract(text), data)
    observed = {c.id: c.observed for c in result.checks if c.unit == "rows"}
    assert observed == {
        "score:range": 1,  # 1.0 is not < 1
        "score:multipleOf": 1,  # 0.3
        "code:length": 2,
        "code:pattern": 3,
        "mail:format": 2,
        "at:range": 2,  # before the minimum; at the exclusive maximum
    }


def test_allowed_values_convert_to_the_columns_type_and_ignore_nulls():
    text = MINIMAL.replace(
        "        required: true\n",
        "        required: true\n        quality:\n          - metric: invalidValues\n"
        "            arguments: {validValues: [1, 2.0, '3', null]}\n",
    )
    data = pl.DataFrame({"id": [1, 2, 3, 4, None], "email": ["a"] * 5})
    result = validate(parse_contract(text), data)
    check = result.check("id:invalidValues")
    assert check.observed == 2  # '3' is text: it cannot match an integer; the null is ignored
    categorical = data.with_columns(pl.col("id").cast(pl.String).cast(pl.Categorical))
    text_ids = validate(
        parse_contract(text.replace("logicalType: integer", "logicalType: string")), categorical
    )
    assert text_ids.check("id:invalidValues").observed == 2  # "4", and "2": 2.0 reads "2.0"


def test_composite_primary_keys_and_object_level_duplicates():
    text = """\
apiVersion: v3.1.0
kind: DataContract
id: t
version: 1.0.0
status: active
schema:
  - name: t
    properties:
      - {name: tenant, primaryKey: true, primaryKeyPosition: 1}
      - {name: order, primaryKey: true, primaryKeyPosition: 2}
      - {name: total}
    quality:
      - id: dup_totals
        metric: duplicateValues
        arguments: {properties: [tenant, total]}
        mustBeLessOrEqualTo: 1
"""
    data = pl.DataFrame({"tenant": [1, 1, 2, 2], "order": [1, 2, 1, 1], "total": [5, 5, 5, 5]})
    result = validate(parse_contract(text), data)
    key = result.check("primaryKey")
    assert (key.passed, key.observed) == (False, 1)
    assert {e["row"] for e in key.examples} == {2, 3}
    assert result.check("dup_totals").observed == 2
    assert result.check("dup_totals").passed is False
    assert "tenant:unique" not in {c.id for c in result.checks}  # unique together, not alone


def test_hashed_policy_and_public_classification_tie_the_contract_to_the_pii_scan():
    text = MINIMAL.replace(
        "        logicalType: string\n",
        "        logicalType: string\n        customProperties:\n"
        "          - property: policy\n            value: hashed\n",
    ) + ("      - name: note\n        logicalType: string\n        classification: public\n")
    digest = hashlib.sha256(b"jane@example.com").hexdigest()
    clean = pl.DataFrame(
        {"id": [1, 2, 3], "email": [digest, "sha1:" + "a" * 40, None], "note": ["hi", None, "ok"]}
    )
    contract = parse_contract(text)
    assert validate(contract, clean).passed
    leaked = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "email": [digest, "jane.doe@example.com", "4111 1111 1111 1111"],
            "note": ["call +44 20 7946 0958", "mail bob@corp.example.org", "fine"],
        }
    )
    result = validate(contract, leaked)
    policy = result.check("email:policy")
    assert (policy.passed, policy.observed) == (False, 2)
    values = [e["values"]["email"] for e in policy.examples]
    assert values == ["j***@e***.com", "4*** **** **** 1111"]
    public = result.check("note:classification")
    assert public.passed is False
    assert public.observed == {
        "email": pytest.approx(33.333, abs=1e-3),
        "phone": pytest.approx(33.333, abs=1e-3),
    }
    assert all(
        "@" not in str(e["values"]) and "7946" not in str(e["values"]) for e in public.examples
    )
    assert {c.id for c in result.blocking_failures} == {"email:policy", "note:classification"}


def test_columns_flagged_by_a_pii_scan_are_masked_in_examples():
    data = telco().with_columns(pl.lit("Female").alias("gender"))
    data = data.with_columns(
        pl.when(pl.col("tenure") == 1).then(99).otherwise(pl.col("tenure")).alias("tenure")
    )
    finding = PiiFinding(
        column="tenure", kind=PiiKind.PHONE, matched=1, scanned=1, rows_scanned=1, share=1.0
    )
    plain = validate(telco_contract(), data).check("tenure:range")
    masked = validate(telco_contract(), data, pii=[finding]).check("tenure:range")
    assert plain.examples[0]["values"] == {"tenure": 99}
    assert masked.examples[0]["values"] == {"tenure": "9***"}
    as_dict = validate(telco_contract(), data, pii=[finding.to_json()]).check("tenure:range")
    assert as_dict.examples == masked.examples


def test_operators_are_odcs_operators():
    assert holds(3, {"mustBe": 3})
    assert holds(3, {"mustBeBetween": [3, 5], "mustNotBe": 4})
    assert not holds(6, {"mustBeBetween": [3, 5]})
    assert holds(2, {"mustNotBeBetween": [3, 5], "mustBeGreaterOrEqualTo": 2})
    assert not holds(2, {"mustBeGreaterThan": 2})
    assert holds(2, {"mustBeLessOrEqualTo": 2}) and not holds(2, {"mustBeLessThan": 2})


def test_an_empty_table_fails_its_row_count():
    empty = telco().head(0)
    result = validate(telco_contract(), empty)
    assert result.rows == 0
    assert [c.id for c in result.blocking_failures] == ["row_count"]
    assert result.check("TotalCharges:missingValues").observed == 0.0


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([3, None, 1, 3, 2, None, 3, 1], pl.Int64),
        (["b", None, "a", "b", "", "", None, "c"], pl.String),
        ([date(2026, 1, 2), None, date(2026, 1, 1), date(2026, 1, 2), None], pl.Date),
    ],
)
def test_repeated_values_counted_alike_by_sorting_and_by_hashing(
    values: list, dtype: pl.DataType, tmp_path
):
    """In memory and in Parquet a one-column unique check sorts the column; from text files it
    hashes (and floats always do); nulls never count as repeats; both give the same count
    and examples."""
    text = """\
apiVersion: v3.1.0
kind: DataContract
id: keys
version: 1.0.0
status: active
schema:
  - name: keys
    properties:
      - name: k
        unique: true
        quality:
          - id: dups
            metric: duplicateValues
            mustBeLessThan: 1
"""
    contract = parse_contract(text)
    frame = pl.DataFrame({"k": pl.Series(values, dtype=dtype), "n": range(len(values))})
    series = frame["k"].drop_nulls()
    expected = series.len() - series.n_unique()
    in_memory = validate(contract, frame)
    frame.write_parquet(tmp_path / "t.parquet")
    frame.write_ndjson(tmp_path / "t.jsonl")
    parquet = validate_table([tmp_path / "t.parquet"], TableFormat.PARQUET, contract)
    jsonl = validate_table([tmp_path / "t.jsonl"], TableFormat.JSONL, contract)
    for result in (in_memory, parquet, jsonl):
        assert result.check("k:unique").observed == expected
        assert result.check("dups").observed == expected
    assert in_memory.to_json() == parquet.to_json()
    rows = {e["row"] for e in in_memory.check("k:unique").examples}
    assert rows == {e["row"] for e in jsonl.check("k:unique").examples}
    repeated = frame.filter(pl.col("k").is_duplicated() & pl.col("k").is_not_null())
    assert rows == set(repeated["n"].to_list()[:5])


def test_iso_dates_in_csv_read_as_dates(tmp_path):
    """A CSV's ISO dates and timestamps are dates to the contract: types, ranges, freshness."""
    path = tmp_path / "events.csv"
    path.write_text("at,day\n2026-11-20T08:00:00,2026-11-20\n2026-11-22 08:00:00,\n")
    text = """\
apiVersion: v3.1.0
kind: DataContract
id: events
version: 1.0.0
status: active
schema:
  - name: events
    properties:
      - name: at
        logicalType: timestamp
        quality:
          - id: fresh
            metric: freshness
            mustBeLessThan: 36
            unit: hours
      - name: day
        logicalType: date
        logicalTypeOptions: {minimum: "2026-01-01"}
"""
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    result = validate_table([path], TableFormat.CSV, parse_contract(text), now=now)
    assert result.check("at:type").passed and result.check("day:type").passed
    assert (result.check("fresh").passed, result.check("fresh").observed) == (True, 28.0)
    assert result.check("day:range").passed
