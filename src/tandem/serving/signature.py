"""A version's input signature, compiled once per loaded model: `InputSchema.prepare` checks a
request's `Frame` against it (422 naming the column and row) and builds the model's input, a
float64 NumPy matrix when every column is numeric (the fast case), else a pandas frame.

Columns a request sends that the signature does not name are ignored (a sticky key such as
`customer_id` may travel with the features); a missing column, a value of the wrong type, or a
null in an integer, boolean or string column is refused.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tandem.serving.formats import Frame, invalid

_FLOAT = {"float16", "float32", "float64", "float", "double", "number"}
_INT = {
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "int", "long",
    "integer",
}  # fmt: skip
_BOOL = {"bool", "boolean"}


def _kind(type_name: str) -> str:
    name = type_name.lower()
    if name in _FLOAT:
        return "float"
    if name in _INT:
        return "int"
    if name in _BOOL:
        return "bool"
    return "string"  # string, category, object, datetime: handed over as given


def _bad(column: str, row: int, kind: str, value: Any) -> Exception:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    article = "an" if kind == "int" else "a"
    name = {"float": "number", "int": "integer", "bool": "boolean", "string": "string"}[kind]
    return invalid(f"column {column!r} (row {row}) must be {article} {name}, not {shown}")


def _float(value: Any, column: str, row: int, text: bool) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if value is None:
        return math.nan
    if text and kind is str:
        if value.strip() == "":
            return math.nan
        try:
            return float(value)
        except ValueError:
            pass
    raise _bad(column, row, "float", value)


def _int(value: Any, column: str, row: int, text: bool) -> int:
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is float and value.is_integer():
        return int(value)
    if text and kind is str:
        try:
            return int(value)
        except ValueError:
            pass
    raise _bad(column, row, "int", value)


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _bool(value: Any, column: str, row: int, text: bool) -> bool:
    if type(value) is bool:
        return bool(value)
    if text and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _bad(column, row, "bool", value)


def _string(value: Any, column: str, row: int, text: bool) -> Any:
    if isinstance(value, str):
        return value
    raise _bad(column, row, "string", value)


_CONVERT: dict[str, Callable[[Any, str, int, bool], Any]] = {
    "float": _float,
    "int": _int,
    "bool": _bool,
    "string": _string,
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked request: `rows` in the schema's column order (for the prediction log) and
    the model's `input`."""

    columns: list[str]
    rows: list[list[Any]]
    input: Any


class InputSchema:
    """The checked shape of a model's input. `None` signature: columns as the request sends
    them, numeric values as a matrix."""

    def __init__(
        self,
        signature: Mapping[str, Any] | None,
        *,
        frame_names: bool = False,
        small_as_rows: int = 0,
    ) -> None:
        inputs = (signature or {}).get("inputs") or []
        self.names: list[str] = [str(c["name"]) for c in inputs]
        self.kinds: list[str] = [_kind(str(c["type"])) for c in inputs]
        self.known = bool(self.names)
        self.numeric = all(kind != "string" for kind in self.kinds)
        # a pandas frame for models that select columns by name (pipelines, fitted on frames)
        self.frame_names = frame_names or not self.numeric
        # requests of at most this many rows go to the model as the checked rows (lists of
        # numbers), not a matrix: a predictor that computes small requests in plain Python
        # (the linear shortcut) skips NumPy's per-call overhead
        self.small_as_rows = 0 if self.frame_names else small_as_rows
        self._signature = signature

    def named(self, frame_names: bool, *, small_as_rows: int = 0) -> InputSchema:
        """The same columns, handed to the model as a pandas frame when `frame_names`."""
        return InputSchema(self._signature, frame_names=frame_names, small_as_rows=small_as_rows)

    def _positions(self, frame: Frame) -> list[int] | None:
        """Where each schema column is in the frame's rows; None when already in order."""
        if frame.columns is None:
            width = len(self.names)
            for index, row in enumerate(frame.rows):
                if len(row) != width:
                    listed = ", ".join(self.names[:10])
                    raise invalid(
                        f"row {index} has {len(row)} values; the model takes {width} "
                        f"({listed}): send them in this order, or name the columns"
                    )
            return None
        if frame.columns == self.names:
            return None
        where = {name: i for i, name in enumerate(frame.columns)}
        missing = [name for name in self.names if name not in where]
        if missing:
            raise invalid(
                f"missing column {missing[0]!r}: the model takes {', '.join(self.names[:20])}"
            )
        return [where[name] for name in self.names]

    def _check(self, rows: list[list[Any]], text: bool) -> list[list[Any]]:
        """Rows in schema order with every value of its column's type."""
        names, kinds = self.names, self.kinds
        if self.numeric and not text:
            clean = True  # the fast case: numbers where numbers belong
            for row in rows:
                for value in row:
                    kind = type(value)
                    if kind is not float and kind is not int:
                        clean = False
                        break
                if not clean:
                    break
            if clean and "bool" not in kinds and "int" not in kinds:
                return rows
        converters = [_CONVERT[kind] for kind in kinds]
        return [
            [convert(value, names[j], i, text) for j, (convert, value) in
             enumerate(zip(converters, row, strict=True))]
            for i, row in enumerate(rows)
        ]  # fmt: skip

    def prepare(self, frame: Frame) -> Prepared:
        """Check `frame` against the signature and build the model's input (422 naming the
        column and row on a mismatch)."""
        if not self.known:
            return self._prepare_unknown(frame)
        positions = self._positions(frame)
        rows = frame.rows
        if positions is not None:
            rows = [[row[p] for p in positions] for row in rows]
        rows = self._check(rows, frame.text)
        if self.frame_names:
            return Prepared(self.names, rows, _pandas_frame(rows, self.names))
        if len(rows) <= self.small_as_rows:
            return Prepared(self.names, rows, rows)
        return Prepared(self.names, rows, np.array(rows, dtype=np.float64))

    def _prepare_unknown(self, frame: Frame) -> Prepared:
        width = len(frame.rows[0])
        columns = frame.columns or [str(i) for i in range(width)]
        for index, row in enumerate(frame.rows):
            if len(row) != width:
                raise invalid(f"row {index} has {len(row)} values, row 0 has {width}")
        try:
            matrix = np.array(frame.rows, dtype=np.float64)
        except (TypeError, ValueError):
            return Prepared(columns, frame.rows, _pandas_frame(frame.rows, columns))
        if frame.columns is not None:
            return Prepared(columns, frame.rows, _pandas_frame(frame.rows, columns))
        return Prepared(columns, frame.rows, matrix)


def _pandas_frame(rows: list[list[Any]], columns: list[str]) -> Any:
    pandas = importlib.import_module("pandas")
    return pandas.DataFrame(rows, columns=columns)
