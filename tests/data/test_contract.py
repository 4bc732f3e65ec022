"""Parsing ODCS v3 contracts: what they accept, what they refuse and how they say it."""

from __future__ import annotations

import polars as pl
import pytest
import yaml
from contract_world import (
    ADULT_CONTRACT,
    MINIMAL,
    TELCO_CONTRACT,
    TELCO_CSV,
    adult_contract,
    telco,
    telco_contract,
)

from tandem.data.contract import draft_contract, parse_contract
from tandem.data.frames import TableFormat
from tandem.data.validate import validate, validate_table
from tandem.errors import InvalidContract


def test_the_example_contracts_parse_with_owners_stewards_and_rules():
    contract = telco_contract()
    assert (contract.id, contract.version, contract.api_version) == (
        "telco-customer-churn",
        "1.0.0",
        "v3.1.0",
    )
    assert [m.username for m in contract.owners] == ["priya.raman@example.com"]
    assert [m.name for m in contract.stewards] == ["Tom Becker", "Lena Ortiz"]
    customers = contract.object()
    assert customers.column_set == "ordered"
    assert len(customers.properties) == 21
    key = customers.property("customerID")
    assert key is not None
    assert key.primary_key and key.required and key.classification == "confidential"
    assert key.options == {"pattern": "[0-9]{4}-[A-Z]{5}"}
    charges = customers.property("MonthlyCharges")
    assert charges is not None
    assert charges.options == {"exclusiveMinimum": 0, "maximum": 200}
    # The YAML anchor shares one rule between six columns; each gets its own copy.
    addons = [
        p.name
        for p in customers.properties
        if p.quality
        and p.quality[0].arguments.get("validValues") == ["Yes", "No", "No internet service"]
    ]
    assert len(addons) == 6
    kinds = {(r.type, r.metric) for r in customers.quality}
    assert kinds >= {("library", "rowCount"), ("library", "duplicateValues"), ("sql", None)}
    assert {(r.type, r.runnable) for r in customers.quality} >= {("custom", True), ("text", False)}

    adult = adult_contract()
    assert adult.object().column_set == "closed"
    assert [m.role for m in adult.team] == ["owner", "data steward"]
    assert adult.object().property("sex").is_sensitive  # type: ignore[union-attr]


def test_sql_rules_take_the_select_count_form_or_a_boolean_expression():
    rules = {r.id: r for r in telco_contract().object().quality}
    phone = rules["phone_lines_consistent"]
    assert phone.counts_true
    assert phone.condition is not None and "SELECT" not in phone.condition
    assert not rules["totals_cover_a_month"].counts_true
    blank = telco_contract().object().property("TotalCharges").quality[0]  # type: ignore[union-attr]
    assert blank.condition == "TRIM(\"TotalCharges\") <> '' OR tenure = 0"  # {property} quoted


def test_odcs_v3_0_spellings_are_accepted():
    text = """\
apiVersion: v3.0.2
kind: DataContract
id: orders
version: 2.0.0
status: draft
team:
  - username: ana
    role: owner
  - username: bo
    role: Data Steward
schema:
  - name: orders
    properties:
      - name: unit
        logicalType: string
        quality:
          - rule: validValues
            validValues: [kg, lb]
            mustBeLessThan: 5
      - name: weight
        logicalType: number
        logicalTypeOptions:
          minimum: 0
          exclusiveMinimum: true
          maximum: 100
      - name: placed_on
        logicalType: date
        logicalTypeOptions:
          minimum: 2020-01-01
    quality:
      - rule: duplicateCount
        arguments:
          properties: [unit, weight]
slaProperties:
  - property: latency
    value: 2
    unit: d
    element: orders.placed_on
"""
    contract = parse_contract(text)
    assert [m.username for m in contract.owners] == ["ana"]
    assert [m.username for m in contract.stewards] == ["bo"]
    orders = contract.object("orders")
    unit_rule = orders.properties[0].quality[0]
    assert unit_rule.metric == "invalidValues"
    assert unit_rule.arguments["validValues"] == ["kg", "lb"]
    assert unit_rule.operators == {"mustBeLessThan": 5}
    assert orders.properties[1].options["exclusiveMinimum"] is True
    assert str(orders.properties[2].options["minimum"]) == "2020-01-01"
    metrics = [(r.metric, r.column, r.operators, r.unit) for r in orders.quality]
    assert metrics == [
        ("duplicateValues", None, {"mustBe": 0}, "rows"),
        ("freshness", "placed_on", {"mustBeLessOrEqualTo": 2}, "d"),
    ]


@pytest.mark.parametrize(
    ("edit", "line", "field", "problem"),
    [
        (
            ("        required: true", "        requird: true"),
            11,
            "schema[0].properties[0].requird",
            "unknown key (did you mean 'required'?)",
        ),
        (
            ("        required: true", "        required: maybe"),
            11,
            "schema[0].properties[0].required",
            "expected a boolean, got the value 'maybe'",
        ),
        (
            ("    properties:", "    properties: none\n    x:"),
            8,
            "schema[0].properties",
            "expected a list, got the value 'none'",
        ),
        (("status: active", "statuz: active"), 5, "statuz", "unknown key (did you mean 'status'?)"),
        (
            ("      - name: email", "      - name: email\n        logicalTypeOptions: [1, 2]"),
            13,
            "schema[0].properties[1].logicalTypeOptions",
            "expected a mapping, got a list",
        ),
        (
            ("        logicalType: string", "        logicalType: text"),
            13,
            "schema[0].properties[1].logicalType",
            "'text' is not an ODCS logical type",
        ),
        (("kind: DataContract", "kind: DataProduct"), 2, "kind", "must be 'DataContract'"),
        (
            ("apiVersion: v3.1.0", "apiVersion: v2.2.2"),
            1,
            "apiVersion",
            "'v2.2.2' is not supported",
        ),
        (("id: customers\n", ""), 1, "(top level)", "missing required key 'id'"),
        (("version: 1.0.0", "version: 1.0.0\nid: again"), 5, "id", "duplicate key"),
        (
            (
                "        required: true",
                "        required: true\n        logicalTypeOptions:\n          minLength: 3",
            ),
            13,
            "schema[0].properties[0].logicalTypeOptions.minLength",
            "unknown option for logicalType 'integer'",
        ),
    ],
)
def test_bad_contracts_name_the_line_and_the_field(edit, line, field, problem):
    text = MINIMAL.replace(*edit)
    assert text != MINIMAL
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "contracts/customers.yaml")
    message = str(caught.value)
    assert message.startswith(f"contracts/customers.yaml line {line}: {field}: {problem}")
    assert "\n" not in message
    assert caught.value.details == {"line": line, "field": field}


def test_the_issue_example_message_word_for_word():
    text = MINIMAL.replace("      - name: email\n", "      - name: email\n        unique: true\n")
    text = text.replace(
        "        logicalType: string\n", "        logicalType: string\n        requird: true\n"
    )
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "contracts/customers.yaml")
    assert str(caught.value) == (
        "contracts/customers.yaml line 15: schema[0].properties[1].requird: unknown key "
        "(did you mean 'required'?)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "contracts/c.yaml: the contract is empty"),
        ("# only a comment\n", "contracts/c.yaml: the contract is empty"),
        (
            "- a\n- b\n",
            "contracts/c.yaml line 1: the contract must be a mapping of keys to values, not a list",
        ),
        (
            "just text\n",
            "contracts/c.yaml line 1: the contract must be a mapping of keys to "
            "values, not the value 'just text'",
        ),
        ("a: [1, 2\nb: 3\n", "contracts/c.yaml line 2: not valid YAML"),
        ("---\na: 1\n---\nb: 2\n", "contracts/c.yaml line 3: not valid YAML"),
    ],
)
def test_documents_that_are_not_contracts(text, expected):
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "contracts/c.yaml")
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_a_regex_that_does_not_compile_is_refused_at_its_line():
    text = MINIMAL.replace(
        "        logicalType: string\n",
        "        logicalType: string\n        logicalTypeOptions:\n          pattern: '(?<=@)x'\n",
    )
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "c.yaml")
    assert str(caught.value).startswith(
        "c.yaml line 15: schema[0].properties[1].logicalTypeOptions.pattern: invalid regular "
        "expression '(?<=@)x': look-around"
    )
    assert caught.value.details["line"] == 15

    unbalanced = MINIMAL.replace(
        "        logicalType: string\n",
        "        logicalType: string\n        quality:\n          - metric: invalidValues\n"
        "            arguments: {pattern: '[a-z'}\n",
    )
    with pytest.raises(InvalidContract, match=r"line 16: .*arguments\.pattern: invalid regular"):
        parse_contract(unbalanced, "c.yaml")


def test_a_custom_expression_that_does_not_parse_is_refused_at_its_line():
    text = MINIMAL + (
        "    quality:\n"
        "      - type: custom\n"
        "        engine: tandem\n"
        "        implementation: id >> 3 AND\n"
    )
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "c.yaml")
    assert str(caught.value).startswith(
        "c.yaml line 17: schema[0].quality[0].implementation: the SQL expression "
        "'id >> 3 AND' does not parse"
    )
    select = MINIMAL + "    quality:\n      - type: sql\n        query: SELECT MAX(id) FROM t\n"
    with pytest.raises(InvalidContract, match=r"line 16: schema\[0\]\.quality\[0\]\.query: tandem"):
        parse_contract(select, "c.yaml")


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("metric: nulValues", "unknown metric 'nulValues' (did you mean 'nullValues'?)"),
        (
            "metric: nullValues\n          mustBeBetween: [5, 1]",
            "expected two numbers, smallest first",
        ),
        ("metric: nullValues\n          mustBe: many", "expected a number, got 'many'"),
        ("metric: nullValues\n          unit: bytes", "must be rows or percent, not 'bytes'"),
        ("metric: invalidValues", "invalidValues needs arguments.validValues or .pattern"),
        ("type: sql", "an sql rule needs a 'query'"),
        ("type: custom\n          engine: soda", "a custom rule needs an 'engine' and an"),
        ("type: quantum", "must be library, sql, custom or text, not 'quantum'"),
        (
            "metric: freshness\n          mustBeLessThan: 3\n          unit: fortnights",
            "'fortnights' is not a time unit",
        ),
        ("metric: rowCount\n          dimension: vibes", "'vibes' is not an ODCS dimension"),
    ],
)
def test_rules_tandem_cannot_read_are_refused(rule, problem):
    text = MINIMAL.replace(
        "        required: true\n", f"        required: true\n        quality:\n        - {rule}\n"
    )
    with pytest.raises(InvalidContract) as caught:
        parse_contract(text, "c.yaml")
    assert problem in str(caught.value)
    assert caught.value.details["line"] >= 11
    assert caught.value.details["field"].startswith("schema[0].properties[0].quality[0]")


def test_custom_properties_tandem_reads_are_checked():
    for prop, value, problem in [
        ("severity", "fatal", "severity must be error, warning or info, not 'fatal'"),
        ("policy", "encrypted", "policy must be one of hashed, not 'encrypted'"),
    ]:
        text = MINIMAL.replace(
            "        required: true\n",
            f"        required: true\n        customProperties:\n"
            f"          - property: {prop}\n            value: {value}\n",
        )
        with pytest.raises(InvalidContract, match=problem):
            parse_contract(text)
    closed = MINIMAL.replace(
        "    properties:\n",
        "    customProperties: [{property: columnSet, value: sealed}]\n    properties:\n",
    )
    with pytest.raises(InvalidContract, match="columnSet must be one of open, closed, ordered"):
        parse_contract(closed)


def test_yaml_nulls_count_as_absent_and_numbers_are_read_as_text_where_odcs_wants_text():
    text = MINIMAL.replace("version: 1.0.0", "version: 1.0\nname:\ndescription:")
    contract = parse_contract(text)
    assert contract.version == "1.0"
    assert contract.name is None


def test_a_contract_with_several_objects_needs_the_object_named():
    two = MINIMAL + "  - name: orders\n    properties:\n      - name: id\n"
    contract = parse_contract(two, "c.yaml")
    assert contract.object("orders").name == "orders"
    with pytest.raises(InvalidContract, match="describes 2 schema objects"):
        contract.object()
    with pytest.raises(InvalidContract, match="no schema object named 'payments'"):
        contract.object("payments")
    twice = MINIMAL + "  - name: customers\n"
    with pytest.raises(InvalidContract, match=r"line 14: schema\[1\]\.name: schema object"):
        parse_contract(twice, "c.yaml")


def test_an_sla_element_naming_no_column_is_reported_when_validating():
    # ODCS' own full example points its latency SLA at a table its schema does not have.
    text = MINIMAL + "slaProperties:\n  - property: latency\n    value: 1\n    element: tab1.at\n"
    contract = parse_contract(text, "c.yaml")
    [rule] = contract.object().quality
    assert (rule.metric, rule.runnable) == ("freshness", False)
    result = validate(contract, pl.DataFrame({"id": [1], "email": ["x"]}))
    check = result.check("customers:freshness")
    assert check.passed is None
    assert check.message == "not run: 'tab1.at' names no property of a schema object"


def test_physical_names_locate_columns_and_null_custom_values_are_kept():
    text = (
        MINIMAL.replace(
            "      - name: email\n",
            "      - name: email\n        physicalName: mail_addr\n        customProperties:\n"
            "          - property: FIELD_NAME\n            value:\n",
        )
        + "    quality:\n      - metric: duplicateValues\n"
        + "        arguments: {properties: [email]}\n"
    )
    contract = parse_contract(text)
    email = contract.object().property("email")
    assert email is not None
    assert (email.column, dict(email.custom)) == ("mail_addr", {"FIELD_NAME": None})
    assert contract.object().property("mail_addr") is email
    data = pl.DataFrame({"id": [1, 2], "mail_addr": ["a@b.co", "a@b.co"]})
    result = validate(contract, data)
    assert result.check("email:present").passed is True
    duplicates = result.check("customers:duplicateValues")
    assert (duplicates.passed, duplicates.observed) == (False, 1)
    assert duplicates.examples[0]["values"] == {"mail_addr": "a***@b***.co"}


# -- drafting -------------------------------------------------------------------------------


def _summary(frame):
    """The profile summary shape `draft_contract` reads, computed directly."""
    columns = {}
    for name in frame.columns:
        series = frame[name]
        kind = (
            "integer"
            if series.dtype.is_integer()
            else ("float" if series.dtype.is_float() else "string")
        )
        counts = series.drop_nulls().value_counts(sort=True)
        stats = {
            "type": kind,
            "count": series.len() - series.null_count(),
            "nulls": series.null_count(),
            "distinct": series.drop_nulls().n_unique(),
            "top": [[v, c] for v, c in counts.head(20).iter_rows()],
        }
        if series.dtype.is_numeric():
            stats |= {"min": series.min(), "max": series.max()}
        columns[name] = stats
    return {"rows": frame.height, "columns": columns}


def test_a_drafted_contract_parses_and_the_data_it_was_drafted_from_passes_it():
    frame = telco()
    findings = [{"column": "customerID", "kind": "email", "share": 1.0}]
    text = draft_contract(_summary(frame), "Telco churn", pii=findings)
    contract = parse_contract(text, "draft.yaml")
    obj = contract.object()
    assert (contract.id, contract.status, obj.name) == ("telco-churn", "draft", "telco_churn")
    key = obj.property("customerID")
    tenure = obj.property("tenure")
    gender = obj.property("gender")
    assert key is not None and tenure is not None and gender is not None
    assert key.unique and key.required and key.classification == "pii"
    assert tenure.options == {"minimum": 0, "maximum": 72}
    assert gender.quality[0].arguments["validValues"] == ["Female", "Male"]
    assert not (obj.property("TotalCharges") or gender).quality  # 6,531 values: no list
    result = validate(contract, frame)
    assert result.passed
    assert not result.failures


def test_a_draft_from_tandems_own_profile():
    from tandem.data.profile import profile_table

    profile = profile_table([TELCO_CSV], TableFormat.CSV)
    text = draft_contract(profile.to_json(), "telco")
    contract = parse_contract(text)
    assert {p.name for p in contract.object().properties} == set(telco().columns)
    result = validate_table([TELCO_CSV], TableFormat.CSV, contract)
    assert result.passed, [c.message for c in result.blocking_failures]


def test_draft_yaml_is_plain_odcs():
    text = draft_contract(
        {
            "rows": 2,
            "columns": {
                "when": {
                    "type": "datetime",
                    "count": 2,
                    "nulls": 0,
                    "distinct": 2,
                    "min": "2024-01-01T00:00:00",
                    "max": "2024-02-01T00:00:00",
                    "top": [],
                }
            },
        },
        "events",
    )
    document = yaml.safe_load(text)
    assert document["apiVersion"] == "v3.1.0"
    assert document["schema"][0]["properties"][0] == {
        "name": "when",
        "logicalType": "timestamp",
        "required": True,
        "unique": True,
        "logicalTypeOptions": {"minimum": "2024-01-01T00:00:00", "maximum": "2024-02-01T00:00:00"},
    }
    assert str(ADULT_CONTRACT).endswith("adult.yaml") and TELCO_CONTRACT.exists()
