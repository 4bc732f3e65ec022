"""Request bodies to frames, and frames checked against a signature: every MLflow JSON format,
CSV and the Open Inference Protocol v2 give the same rows; each bad body is one exact status and
code naming what is wrong."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from tandem.serving.formats import RequestError, mlflow_answer, parse_csv, parse_json, parse_v2
from tandem.serving.signature import InputSchema

SIGNATURE = {"inputs": [{"name": "tenure", "type": "float64"}, {"name": "plan", "type": "int64"}]}
ROWS = [[1.5, 2], [3.0, 4]]


@pytest.mark.parametrize(
    "document",
    [
        {"dataframe_split": {"columns": ["tenure", "plan"], "data": ROWS}},
        {"dataframe_split": {"columns": ["plan", "tenure"], "data": [[2, 1.5], [4, 3.0]]}},
        {"dataframe_split": {"data": ROWS}},
        {"dataframe_records": [{"tenure": 1.5, "plan": 2}, {"plan": 4, "tenure": 3.0}]},
        {"instances": [{"tenure": 1.5, "plan": 2}, {"tenure": 3.0, "plan": 4}]},
        {"instances": ROWS},
        {"inputs": {"tenure": [1.5, 3.0], "plan": [2, 4]}},
        {"inputs": ROWS},
    ],
)
def test_every_mlflow_json_format_gives_the_same_rows(document: dict) -> None:
    prepared = InputSchema(SIGNATURE).prepare(parse_json(orjson.dumps(document)))
    assert prepared.columns == ["tenure", "plan"]
    assert prepared.input.tolist() == [[1.5, 2.0], [3.0, 4.0]]


def test_csv_and_v2_give_the_same_rows() -> None:
    schema = InputSchema(SIGNATURE)
    csv_rows = schema.prepare(parse_csv(b"plan,tenure\r\n2,1.5\r\n4,3\r\n")).input
    one_tensor, _ = parse_v2(
        orjson.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64",
                                  "data": [1.5, 2, 3.0, 4]}]})
    )  # fmt: skip
    per_column, request_id = parse_v2(
        orjson.dumps({"id": "r-1", "inputs": [
            {"name": "plan", "shape": [2], "datatype": "INT64", "data": [2, 4]},
            {"name": "tenure", "shape": [2, 1], "datatype": "FP64", "data": [[1.5], [3.0]]},
        ]})
    )  # fmt: skip
    assert request_id == "r-1"
    for frame in (one_tensor, per_column):
        assert np.array_equal(schema.prepare(frame).input, csv_rows)
    assert csv_rows.tolist() == [[1.5, 2.0], [3.0, 4.0]]


def test_a_null_in_a_float_column_is_nan_and_extra_columns_are_ignored() -> None:
    frame = parse_json(b'{"dataframe_records": [{"tenure": null, "plan": 1, "customer": "c-9"}]}')
    assert frame.value_of("customer") == "c-9"
    prepared = InputSchema(SIGNATURE).prepare(frame)
    assert math.isnan(prepared.input[0, 0]) and prepared.columns == ["tenure", "plan"]


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (b"{not json", 400, "invalid-json", "not JSON"),
        (b'{"data": [[1]]}', 422, "invalid-input", "exactly one of dataframe_split"),
        (b'{"inputs": [[1]], "instances": [[1]]}', 422, "invalid-input", "exactly one of"),
        (b'{"dataframe_split": {"columns": ["tenure"], "data": [[1, 2]]}}', 422,
         "invalid-input", "data[0] has 2 values for 1 columns"),
        (b'{"dataframe_records": []}', 422, "invalid-input", "non-empty list"),
        (b'{"dataframe_records": [{"tenure": 1, "plan": 2}, {"tenure": 1}]}', 422,
         "invalid-input", "dataframe_records[1] differs from row 0 in column 'plan'"),
        (b'{"inputs": {"tenure": [1, 2], "plan": [1]}}', 422, "invalid-input",
         "inputs.plan has 1 values, not 2"),
    ],
)  # fmt: skip
def test_a_bad_json_body_is_refused_with_its_reason(
    body: bytes, status: int, code: str, words: str
) -> None:
    with pytest.raises(RequestError) as caught:
        parse_json(body)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert words in caught.value.detail


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"dataframe_records": [{"tenure": 1.0}]}, "missing column 'plan'"),
        ({"dataframe_records": [{"tenure": "soon", "plan": 1}]},
         "column 'tenure' (row 0) must be a number, not 'soon'"),
        ({"dataframe_records": [{"tenure": 1.0, "plan": 1}, {"tenure": 2.0, "plan": 1.5}]},
         "column 'plan' (row 1) must be an integer, not 1.5"),
        ({"dataframe_records": [{"tenure": 1.0, "plan": None}]},
         "column 'plan' (row 0) must be an integer, not None"),
        ({"instances": [[1.0]]}, "row 0 has 1 values; the model takes 2 (tenure, plan)"),
    ],
)  # fmt: skip
def test_a_request_that_does_not_match_the_signature_is_a_422_naming_the_field(
    document: dict, words: str
) -> None:
    with pytest.raises(RequestError) as caught:
        InputSchema(SIGNATURE).prepare(parse_json(orjson.dumps(document)))
    assert (caught.value.status, caught.value.code) == (422, "invalid-input")
    assert words in caught.value.detail


def test_csv_values_are_parsed_by_the_column_type_and_bad_ones_named() -> None:
    schema = InputSchema(
        {"inputs": [{"name": "ok", "type": "bool"}, {"name": "city", "type": "string"},
                    {"name": "n", "type": "int64"}]}
    )  # fmt: skip
    prepared = schema.prepare(parse_csv(b"n,ok,city\n3,true,Lyon\n"))
    assert prepared.rows == [[True, "Lyon", 3]]
    assert list(prepared.input.columns) == ["ok", "city", "n"]  # strings: a pandas frame
    with pytest.raises(RequestError, match=r"column 'n' \(row 0\) must be an integer, not 'x'"):
        schema.prepare(parse_csv(b"n,ok,city\nx,true,Lyon\n"))
    with pytest.raises(RequestError, match="CSV row 0 has 2 values for 3 columns"):
        parse_csv(b"n,ok,city\n1,true\n")


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"inputs": "x"}, '{"inputs": [{"name", "shape", "datatype", "data"}]}'),
        ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP64"}]}, "has no 'data'"),
        ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP128", "data": [1, 2]}]},
         "datatype 'FP128' is not one of"),
        ({"inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2]}]},
         "inputs[0] has 2 values for shape [3]"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},
                     {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]},
         "same number of rows"),
    ],
)  # fmt: skip
def test_a_bad_v2_body_is_a_422_with_its_reason(document: dict, words: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_v2(orjson.dumps(document))
    assert (caught.value.status, caught.value.code) == (422, "invalid-input")
    assert words in caught.value.detail


def test_the_mlflow_answer_is_predictions() -> None:
    assert orjson.loads(mlflow_answer(b"[1,0]")) == {"predictions": [1, 0]}
