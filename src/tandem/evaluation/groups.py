"""Slices as integer group codes: one column, several columns jointly, or the whole table.

A slicing turns each row into a small integer (its group) so that every per-group sum below is
one `np.bincount`. Groups are the value combinations present in the data, in sorted order, as
pandas' group-by (and so Fairlearn's `MetricFrame.by_group`) reports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tandem import errors

JOINT_SEPARATOR = "|"
MISSING = "(missing)"  # the group of rows with no value in a slice column


@dataclass(frozen=True)
class Slicing:
    """Rows mapped to groups: `codes[i]` is row i's group, `labels[g]` names group g."""

    name: str
    codes: np.ndarray
    labels: list[str]

    @property
    def size(self) -> int:
        return len(self.labels)

    @classmethod
    def overall(cls, n_rows: int) -> Slicing:
        return cls("overall", np.zeros(n_rows, np.int64), ["overall"])

    @classmethod
    def of(cls, columns: Mapping[str, Any]) -> Slicing:
        """One column, or the joint combinations of several (named `a+b+c`, groups `x|y|z`)."""
        if not columns:
            raise errors.InvalidInput("a slicing needs at least one column")
        parts = [_encode(name, values) for name, values in columns.items()]
        if len(parts) == 1:
            codes, labels = parts[0]
            return cls(next(iter(columns)), codes, labels)
        joint = np.zeros(len(parts[0][0]), np.int64)
        for codes, labels in parts:
            joint = joint * len(labels) + codes
        present, codes = _compact(joint, math.prod(len(labels) for _, labels in parts))
        names = []
        for value in present.tolist():
            combo = []
            for _, labels in reversed(parts):
                value, index = divmod(value, len(labels))
                combo.append(labels[index])
            names.append(JOINT_SEPARATOR.join(reversed(combo)))
        return cls("+".join(columns), codes.astype(np.int64), names)


def _compact(joint: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """The combinations that occur, in order, and each row's index among them."""
    if space > 4 * len(joint) + 1024:  # sparse: sort
        present, codes = np.unique(joint, return_inverse=True)
        return present, codes.reshape(-1)
    seen = np.bincount(joint, minlength=space) > 0  # dense: one counting pass, no sort
    index = np.cumsum(seen) - 1
    return np.flatnonzero(seen), index[joint]


def _encode(name: str, values: Any) -> tuple[np.ndarray, list[str]]:
    """Sorted distinct values and each row's index among them; missing values (null, NaN)
    form the group "(missing)".

    Dictionary-encoded by Arrow (a hash pass) and then only the few distinct values are
    sorted: sorting a million strings with `np.unique` took a second."""
    import pyarrow as pa
    import pyarrow.compute as pc

    to_arrow = getattr(values, "to_arrow", None)  # a Polars series
    try:
        if isinstance(values, pa.Array | pa.ChunkedArray):
            array = values
        else:
            array = to_arrow() if callable(to_arrow) else pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise errors.InvalidInput(f"slice column {name!r}: {exc}") from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_floating(array.type):  # NaN is missing too
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
    if array.null_count:  # reported as a group of its own, not refused
        array = pc.fill_null(array.cast(pa.string()), MISSING)
    encoded = pc.dictionary_encode(array)
    distinct = encoded.dictionary.to_pylist()
    order = sorted(range(len(distinct)), key=lambda i: distinct[i])
    remap = np.empty(len(distinct), np.int64)
    remap[order] = np.arange(len(distinct))
    codes = remap[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, [str(distinct[i]) for i in order]


def slicings(columns: Mapping[str, Any], *, joint: bool = True) -> list[Slicing]:
    """Each column on its own and, with more than one and `joint`, all of them together."""
    out = [Slicing.of({name: values}) for name, values in columns.items()]
    if joint and len(columns) > 1:
        out.append(Slicing.of(dict(columns)))
    return out


def group_sizes(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=size).astype(np.float64)


def check_lengths(n: int, **arrays: Sequence[Any] | np.ndarray | None) -> None:
    for name, array in arrays.items():
        if array is not None and len(array) != n:
            raise errors.InvalidInput(f"{name} has {len(array):,} values, expected {n:,}")
