"""Request bodies in, answers out: MLflow's scoring formats (JSON `dataframe_split`,
`dataframe_records`, `instances`, `inputs`; and `text/csv`) and the Open Inference Protocol v2
(`/v2/models/{name}/infer`). Every body becomes a `Frame`: rows with optional column names,
which `signature.InputSchema` checks and turns into the model's input.

Bad bodies raise `RequestError` with the HTTP status and a stable code; the app renders it as
`application/problem+json`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import orjson

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class RequestError(Exception):
    """A request the gateway refuses: `status` and a stable `code` for the problem body."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def invalid(detail: str) -> RequestError:
    return RequestError(422, "invalid-input", detail)


@dataclass(slots=True)
class Frame:
    """Rows of a request. `columns` names the values of each row (None: positional, in the
    signature's order); `text` says the values are strings still to be parsed (CSV)."""

    columns: list[str] | None
    rows: list[list[Any]]
    text: bool = False

    def value_of(self, column: str) -> Any:
        """The first row's value of `column` (the sticky key), or None."""
        if self.columns is None or not self.rows:
            return None
        try:
            return self.rows[0][self.columns.index(column)]
        except (ValueError, IndexError):
            return None


def _records(records: list[Any], where: str) -> Frame:
    first = records[0]
    if not isinstance(first, dict):
        raise invalid(f"{where}[0] must be an object of column -> value")
    columns = list(first)
    if len(records) == 1:  # the common one-row request: no key checks to do
        return Frame(columns, [list(first.values())])
    rows = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise invalid(f"{where}[{index}] must be an object of column -> value")
        if record.keys() != first.keys():
            missing = [c for c in columns if c not in record] or list(record.keys() - first)
            raise invalid(f"{where}[{index}] differs from row 0 in column {missing[0]!r}")
        rows.append([record[c] for c in columns])
    return Frame(columns, rows)


def _rows(value: Any, where: str) -> Frame:
    """A list of rows (lists or scalars) or of records (objects)."""
    if not isinstance(value, list) or not value:
        raise invalid(f"{where} must be a non-empty list of rows")
    if isinstance(value[0], dict):
        return _records(value, where)
    if isinstance(value[0], list):
        for index, row in enumerate(value):
            if not isinstance(row, list):
                raise invalid(f"{where}[{index}] must be a list of values like row 0")
        return Frame(None, value)
    return Frame(None, [[v] for v in value])  # a list of scalars: one-column rows


def _columns_of(value: dict[str, Any], where: str) -> Frame:
    """`{"column": [values...], ...}`: MLflow's column-oriented `inputs`."""
    columns = list(value)
    lists = [v if isinstance(v, list) else [v] for v in value.values()]
    length = len(lists[0]) if lists else 0
    for name, values in zip(columns, lists, strict=True):
        if len(values) != length:
            raise invalid(f"{where}.{name} has {len(values)} values, not {length} like the rest")
    if not columns or length == 0:
        raise invalid(f"{where} must hold at least one column with values")
    return Frame(columns, [list(row) for row in zip(*lists, strict=True)])


def parse_json(body: bytes) -> Frame:
    """An MLflow JSON scoring body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "invalid-json", f"the body is not JSON: {exc}") from None
    if type(document) is not dict or sum(key in document for key in MLFLOW_KEYS) != 1:
        raise invalid(
            "the body must be a JSON object with exactly one of "
            + ", ".join(MLFLOW_KEYS)
            + ' (e.g. {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})'
        )
    if "dataframe_split" in document:
        split = document["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise invalid('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
        frame = _rows(split["data"], "dataframe_split.data")
        columns = split.get("columns")
        if columns is not None:
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise invalid("dataframe_split.columns must be a list of column names")
            for index, row in enumerate(frame.rows):
                if len(row) != len(columns):
                    raise invalid(
                        f"dataframe_split.data[{index}] has {len(row)} values for "
                        f"{len(columns)} columns"
                    )
            frame.columns = columns
        return frame
    if "dataframe_records" in document:
        records = document["dataframe_records"]
        if not isinstance(records, list) or not records:
            raise invalid("dataframe_records must be a non-empty list of objects")
        return _records(records, "dataframe_records")
    key = "instances" if "instances" in document else "inputs"
    value = document[key]
    if isinstance(value, dict):
        return _columns_of(value, key)
    return _rows(value, key)


def parse_csv(body: bytes) -> Frame:
    """`text/csv` with a header line (what pandas' `to_csv(index=False)` writes)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError(400, "invalid-csv", "the CSV body is not UTF-8") from None
    lines = list(csv.reader(io.StringIO(text)))
    lines = [line for line in lines if line]
    if len(lines) < 2:
        raise invalid("the CSV body needs a header line and at least one row")
    header = lines[0]
    for index, row in enumerate(lines[1:]):
        if len(row) != len(header):
            raise invalid(f"CSV row {index} has {len(row)} values for {len(header)} columns")
    return Frame(header, lines[1:], text=True)


_V2_TYPES = {
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
}  # fmt: skip


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        flat: list[Any] = []
        for item in data:
            flat.extend(_flat(item))
        return flat
    return data


def _tensor(tensor: Any, index: int) -> tuple[str, list[int], list[Any]]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise invalid(f"{where} must be a tensor object with name, shape, datatype and data")
    for key in ("name", "shape", "datatype", "data"):
        if key not in tensor:
            raise invalid(f"{where} has no {key!r}")
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if not isinstance(name, str):
        raise invalid(f"{where}.name must be a string")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(n, int) and n >= 0 for n in shape)
    ):
        raise invalid(f"{where}.shape must be [rows] or [rows, columns]")
    if datatype not in _V2_TYPES:
        raise invalid(f"{where}.datatype {datatype!r} is not one of {', '.join(sorted(_V2_TYPES))}")
    data = _flat(tensor["data"])
    expected = shape[0] * (shape[1] if len(shape) == 2 else 1)
    if len(data) != expected:
        raise invalid(f"{where} has {len(data)} values for shape {shape}")
    return name, shape, data


def parse_v2(body: bytes) -> tuple[Frame, str | None]:
    """An Open Inference Protocol v2 request: one tensor [rows, columns] in the signature's
    order, or one tensor per column ([rows] or [rows, 1]). Also returns the request's `id`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "invalid-json", f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise invalid('the body must be {"inputs": [{"name", "shape", "datatype", "data"}]}')
    tensors = [_tensor(t, i) for i, t in enumerate(document["inputs"])]
    if not tensors:
        raise invalid("inputs holds no tensor")
    request_id = document.get("id")
    request_id = request_id if isinstance(request_id, str) else None
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        _, (rows, width), data = tensors[0]
        return Frame(None, [data[i * width : (i + 1) * width] for i in range(rows)]), request_id
    names = [name for name, _, _ in tensors]
    lengths = {shape[0] for _, shape, _ in tensors}
    for name, shape, _ in tensors:
        if len(shape) == 2 and shape[1] != 1:
            raise invalid(f"tensor {name!r} has shape {shape}: one tensor per column needs [rows]")
    if len(lengths) != 1:
        raise invalid("every input tensor must have the same number of rows")
    if len(set(names)) != len(names):
        raise invalid("two input tensors have the same name")
    columns = [data for _, _, data in tensors]
    return Frame(names, [list(row) for row in zip(*columns, strict=True)]), request_id


def _v2_type(values: list[Any]) -> str:
    sample = values[0] if values else 0.0
    while isinstance(sample, list) and sample:
        sample = sample[0]
    if isinstance(sample, bool):
        return "BOOL"
    if isinstance(sample, int):
        return "INT64"
    if isinstance(sample, float):
        return "FP64"
    return "BYTES"


def v2_answer(model_name: str, version: str, request_id: str, outputs: list[Any]) -> bytes:
    """The v2 response: one output tensor `predict`, [rows] or [rows, k]."""
    width = len(outputs[0]) if outputs and isinstance(outputs[0], list) else 0
    shape = [len(outputs), width] if width else [len(outputs)]
    data = _flat(outputs) if width else outputs
    tensor = {"name": "predict", "datatype": _v2_type(outputs), "shape": shape, "data": data}
    return orjson.dumps(
        {"model_name": model_name, "model_version": version, "id": request_id,
         "outputs": [tensor]},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )  # fmt: skip


def dump_outputs(outputs: list[Any]) -> bytes:
    """The predictions as JSON (also what the prediction log keeps)."""
    return orjson.dumps(outputs, option=orjson.OPT_SERIALIZE_NUMPY)


def mlflow_answer(outputs_json: bytes) -> bytes:
    """MLflow's answer, `{"predictions": [...]}`, around `dump_outputs`' JSON."""
    return b'{"predictions":' + outputs_json + b"}"
