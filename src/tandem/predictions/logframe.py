"""The prediction log read back in bulk, with no I/O: a time range of segments as two Polars
frames, one row per predicted row (a request may carry several), for monitoring and outcomes.

A logged request holds its inputs as JSON, `{"columns": [...], "data": [[...], ...]}`, and its
output as the JSON list of predictions (or a problem body when it failed). Both are decoded by
Polars over the whole column, never row by row in Python: `data` as lists of text, expanded to
one column per input, each then cast to a number or a boolean when every value is one. 100,000
rows x 20 columns decode in about 0.3 s on this machine (a per-row `orjson.loads` and frame build
took 1.6 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

META_COLUMNS = (
    "request_id", "row", "at", "deployment", "model", "version", "status", "latency_ms",
    "score", "prediction",
)  # fmt: skip
"""The columns of `LogFrames.meta`, in order."""


@dataclass(frozen=True)
class LogFrames:
    """Logged predictions of a time range.

    `meta`: `META_COLUMNS`, one row per predicted row: `row` is its position in the request,
    `score` the positive class's probability (a list of class probabilities logged), else the
    numeric prediction (a class label 0/1 or a regressor's value), `prediction` the predicted
    value as text. `inputs`: the logged input columns, row for row with `meta` (empty columns
    when `with_inputs` was false); a request that logged no inputs has nulls there.
    """

    meta: pl.DataFrame
    inputs: pl.DataFrame
    segments: int

    @property
    def rows(self) -> int:
        return int(self.meta.height)


_TABLE_COLUMNS = (
    "request_id", "at", "deployment", "model", "version", "status", "latency_ms", "inputs",
    "output",
)  # fmt: skip


def read_columns(with_inputs: bool) -> list[str]:
    """The Parquet columns a read needs (projection: without inputs, their JSON is not read)."""
    return [c for c in _TABLE_COLUMNS if with_inputs or c != "inputs"]


def frames(
    tables: Sequence[pa.Table | pl.DataFrame],
    *,
    since: int,
    until: int,
    with_inputs: bool = True,
) -> LogFrames:
    """The rows of `tables` (segments read with `read_columns`) made in [since, until)."""
    import polars as pl

    if tables:
        parts: list[pl.DataFrame] = []
        for table in tables:
            frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            parts.append(frame)
        raw = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    else:
        raw = pl.DataFrame(schema=dict.fromkeys(read_columns(with_inputs), pl.String))
        raw = raw.with_columns(
            pl.col("at", "version").cast(pl.Int64), pl.col("status").cast(pl.Int32),
            pl.col("latency_ms").cast(pl.Float64),
        )  # fmt: skip
    in_range = (pl.col("at") >= since) & (pl.col("at") < until)
    raw = raw.filter(in_range)
    if not raw["at"].is_sorted():  # segments are shipped in time order: usually sorted already
        raw = raw.sort("at", maintain_order=True)
    raw = raw.with_row_index("_request")
    ok = raw.select(pl.when(pl.col("status") < 400).then(pl.col("output"))).to_series()
    raw = raw.with_columns(*_decode_output(ok))
    # `_pred`/`_score` are lists (a request's rows), or one value a request when every output
    # was a single row (`_single_rows`)
    listed = isinstance(raw.schema["_pred"], pl.List)
    values = _input_rows(raw.select("_request", "inputs")) if with_inputs else None
    counts = pl.col("_pred").list.len().fill_null(0) if listed else pl.lit(1)
    if values is not None:
        per_request = values.group_by("_request").agg(pl.len().alias("_inputs"))
        raw = raw.join(per_request, on="_request", how="left")
        counts = pl.max_horizontal(counts, pl.col("_inputs").fill_null(0))
    raw = raw.with_columns(counts.alias("_rows"))
    if raw.height and int(raw["_rows"].max()) > 1:  # type: ignore[arg-type]
        rows = pl.int_ranges(0, pl.max_horizontal(pl.col("_rows"), pl.lit(1)))
        expanded = raw.with_columns(rows.alias("row")).explode("row")
    else:  # a row a request, the usual case: no explode (0.2 s a million)
        expanded = raw.with_columns(pl.lit(0).alias("row"))
    row = pl.col("row")
    if listed:
        score = pl.col("_score").list.get(row, null_on_oob=True)
        prediction = pl.col("_pred").list.get(row, null_on_oob=True)
    else:
        score = pl.when(row == 0).then(pl.col("_score"))
        prediction = pl.when(row == 0).then(pl.col("_pred"))
    expanded = expanded.with_columns(
        row.cast(pl.UInt32), score.alias("score"), prediction.alias("prediction")
    )
    meta = expanded.select(META_COLUMNS)
    if values is None:
        return LogFrames(meta, pl.DataFrame(), len(tables))
    keyed = expanded.select("_request", "row").join(
        values, on=["_request", "row"], how="left", maintain_order="left"
    )
    return LogFrames(meta, _expand_inputs(keyed), len(tables))


# one value of a row: a string with no escapes in it, or a bare number / true / false / null
_TOKEN = r'"[^"\\]*"|[^,"]+'


def _input_rows(requests: pl.DataFrame) -> pl.DataFrame:
    """(`_request`, `row`, `_columns`, `_values`): each logged input row, its values as text.

    Most requests are split by string operations over the whole column (0.4 s for 100,000
    rows x 20 numbers; `str.json_decode` took 2 s and `orjson.loads` of each 1.7 s): a row of
    numbers splits at commas, a single row with plain strings is matched value by value. Rows
    with escapes in strings or nested values go through `str.json_decode`; text that is not
    JSON logs no inputs.
    """
    import polars as pl

    text = pl.col("inputs")
    # `{"columns":[...],"data":[[...],...]}` as the gateway writes it (orjson: no spaces); cut
    # where the data starts (a regex over the whole text took 0.8 s for 100,000 requests)
    present = (
        requests.filter(text.is_not_null() & (text != "null"))
        .with_columns(text.str.splitn('"data":[[', 2).alias("_parts"))
        .unnest("_parts")
    )
    head, tail = pl.col("field_0"), pl.col("field_1")
    shaped = (
        head.str.starts_with('{"columns":[') & head.str.ends_with("],") & tail.str.ends_with("]]}")
    )
    present = present.with_columns(
        pl.when(shaped).then(head.str.strip_prefix('{"columns":').str.strip_suffix(","))
        .alias("_head"),
        pl.when(shaped).then(tail.str.strip_suffix("]]}")).alias("_body"),
    ).drop("field_0", "field_1")  # fmt: skip
    body = pl.col("_body")
    matched = body.is_not_null()
    plain = matched & ~body.str.contains('"', literal=True)
    single = (
        matched
        & ~plain
        & ~body.str.contains("\\", literal=True)
        & ~body.str.contains("],[", literal=True)
    )
    split = present.filter(plain).select(
        "_request", "_head", body.str.split("],[").alias("_values")
    )
    split = (
        split.with_columns(pl.int_ranges(0, pl.col("_values").list.len()).alias("row"))
        .explode("_values", "row")
        .with_columns(
            pl.col("_values")
            .str.split(",")
            .list.eval(pl.when(pl.element() != "null").then(pl.element()))
        )
    )
    quoted = present.filter(single).select(
        "_request",
        "_head",
        body.str.extract_all(_TOKEN)
        .list.eval(
            pl.when(pl.element() != "null").then(
                pl.element().str.strip_prefix('"').str.strip_suffix('"')
            )
        )
        .alias("_values"),
        pl.lit(0, pl.Int64).alias("row"),
    )
    fast = pl.concat([split, quoted], how="vertical_relaxed")
    heads = fast.select(pl.col("_head").unique())["_head"].to_list()
    layouts = pl.DataFrame(
        {"_head": heads, "_columns": [_columns(head) for head in heads]},
        schema={"_head": pl.String, "_columns": pl.List(pl.String)},
    )
    fast = fast.join(layouts, on="_head", how="left").drop("_head")
    rest = present.filter(~plain & ~single)
    if rest.height:
        decoded = _decode_inputs(rest["inputs"])
        slow = (
            rest.select("_request")
            .with_columns(
                decoded.struct.field("columns").alias("_columns"),
                decoded.struct.field("data").alias("_values"),
            )
            .filter(pl.col("_values").is_not_null())
            .with_columns(pl.int_ranges(0, pl.col("_values").list.len()).alias("row"))
            .explode("_values", "row")
        )
        fast = pl.concat([fast, slow.select(fast.columns)], how="vertical_relaxed")
    return fast.with_columns(pl.col("row").cast(pl.UInt32))


def _columns(head: str | None) -> list[str] | None:
    if head is None:
        return None
    try:
        names = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    return [str(name) for name in names] if isinstance(names, list) else None


def _decode_inputs(inputs: pl.Series) -> pl.Series:
    """The requests the fast paths left (escapes in strings, nested values, other shapes):
    split-shaped ones by `str.json_decode`, the rest request by request."""
    import polars as pl

    dtype = pl.Struct({"columns": pl.List(pl.String), "data": pl.List(pl.List(pl.String))})
    if inputs.str.starts_with('{"columns":').all():
        try:
            return inputs.str.json_decode(dtype)
        except pl.exceptions.ComputeError:
            pass
    return pl.Series([_inputs_row(text) for text in inputs.to_list()], dtype=dtype)


def _inputs_row(text: str | None) -> dict[str, Any] | None:
    """A request's inputs in any shape the gateway accepts, as split columns and rows: split
    (`{"columns", "data"}`), records (`[{"age": 3}]` or one `{"age": 3}`) or columns
    (`{"age": [3, 4]}`). None for anything else."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    columns: list[str]
    rows: list[list[Any]]
    if isinstance(value, dict) and isinstance(value.get("data"), list) and "columns" in value:
        columns = [str(c) for c in value.get("columns") or []]
        rows = [row for row in value["data"] if isinstance(row, list)]
    elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        columns = [str(c) for c in value]
        length = max(len(v) for v in value.values())
        rows = [[v[i] if i < len(v) else None for v in value.values()] for i in range(length)]
    elif isinstance(value, dict) and value:
        columns, rows = [str(c) for c in value], [list(value.values())]
    elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns = list(dict.fromkeys(str(k) for r in value for k in r))
        rows = [[r.get(c) for c in columns] for r in value]
    else:
        return None
    return {"columns": columns, "data": [[_text(cell) for cell in row] for row in rows]}


def _text(cell: Any) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, str):
        return cell
    if isinstance(cell, int | float):
        return repr(cell)
    return orjson.dumps(cell).decode()


def _decode_output(ok: pl.Series) -> list[pl.Series]:
    """`_pred` (predictions as text) and `_score` (numbers) per request from `ok`, the outputs
    of the requests that did not fail: lists of its rows, or the values themselves when every
    output is one row of class probabilities.

    Three shapes, told apart by how the text starts: predictions (`[0, 1]`, `["yes"]`: the
    score is the prediction when it is a number), class probabilities (`[[0.2, 0.8]]`: the
    prediction is the likeliest class's index), and a classifier's answers with their scores as
    the gateway logs them (`[{"prediction": "yes", "score": 0.8}]`). A log that mixes them
    (versions of different kinds on one endpoint) is decoded shape by shape."""
    import polars as pl

    single = _single_rows(ok)
    if single is None:
        single = _single_records(ok)
    if single is not None:
        return [single[0].alias("_pred"), single[1].alias("_score")]
    head = ok.str.slice(0, 2)
    kinds = head.replace_strict(
        {"[[": "probabilities", "[{": "records"}, default="flat", return_dtype=pl.String
    )
    present = kinds.filter(ok.is_not_null()).unique().to_list()
    if len(present) <= 1:
        predictions, scores = _decode_shape(ok, present[0] if present else "flat")
    else:
        parts = []
        frame = pl.DataFrame({"_i": pl.int_range(len(ok), eager=True), "ok": ok, "kind": kinds})
        for (kind,), part in frame.partition_by("kind", as_dict=True).items():
            found, scored = _decode_shape(part["ok"], str(kind))
            parts.append(pl.DataFrame({"_i": part["_i"], "_pred": found, "_score": scored}))
        merged = pl.concat(parts).sort("_i")
        predictions, scores = merged["_pred"], merged["_score"]
    return [predictions.alias("_pred"), scores.alias("_score")]


def _decode_shape(ok: pl.Series, kind: str) -> tuple[pl.Series, pl.Series]:
    """Outputs of one shape (`_decode_output`) as lists of predictions and scores; outputs that
    do not decode as that shape are decoded one by one."""
    import polars as pl

    try:
        if kind == "probabilities":  # class probabilities: [[p0, p1], ...]
            matrix = ok.str.json_decode(pl.List(pl.List(pl.Float64)))
            scores = matrix.list.eval(
                pl.when(pl.element().list.len() == 2)
                .then(pl.element().list.get(1, null_on_oob=True))
                .otherwise(pl.element().list.max())
            )
            return matrix.list.eval(pl.element().list.arg_max().cast(pl.String)), scores
        if kind == "records":  # [{"prediction": ..., "score": ...}, ...] (or label, proba)
            fields: dict[str, Any] = dict.fromkeys(_PREDICTION_KEYS, pl.String)
            fields |= dict.fromkeys(_SCORE_KEYS, pl.Float64)
            rows = ok.str.json_decode(pl.List(pl.Struct(fields)))
            item = pl.element().struct
            return (
                rows.list.eval(pl.coalesce([item.field(name) for name in _PREDICTION_KEYS])),
                rows.list.eval(pl.coalesce([item.field(name) for name in _SCORE_KEYS])),
            )
        predictions = ok.str.json_decode(pl.List(pl.String))  # [0, 1, ...] or ["yes", ...]
        return predictions, predictions.list.eval(pl.element().cast(pl.Float64, strict=False))
    except pl.exceptions.ComputeError:
        rows_ = [_output_row(text) for text in ok.to_list()]
        return (
            pl.Series([r[0] for r in rows_], dtype=pl.List(pl.String)),
            pl.Series([r[1] for r in rows_], dtype=pl.List(pl.Float64)),
        )


def _single_rows(ok: pl.Series) -> tuple[pl.Series, pl.Series] | None:
    """The prediction (the likeliest class's index, as text) and score (the positive class's
    probability of two, else the highest) of outputs that are each one row of class
    probabilities, `[[p0, p1, ...]]` as the gateway writes it (orjson: no spaces), split by
    string operations over the whole column: a million in 0.16 s of CPU, against 0.41 s for
    `str.json_decode` and 0.2 s more to make its lists. None when an output has another shape
    or a value that is not a number: decode it then."""
    import polars as pl

    present = ok.drop_nulls()
    if not len(present) or not bool(
        (present.str.starts_with("[[") & present.str.ends_with("]]")).all()
    ):
        return None
    body = ok.str.strip_prefix("[[").str.strip_suffix("]]")
    if bool(body.str.contains("]", literal=True).any()):  # several rows (or nested values)
        return None
    parts = body.str.split_exact(",", 2).struct.unnest()
    if not parts["field_2"].is_not_null().any():  # two classes, the usual case: no lists
        p0 = parts["field_0"].cast(pl.Float64, strict=False)
        p1 = parts["field_1"].cast(pl.Float64, strict=False)
        if p0.null_count() == p1.null_count() == body.null_count():  # all numbers
            frame = pl.DataFrame({"p0": p0, "p1": p1}).select(
                pl.when(pl.col("p1") > pl.col("p0")).then(pl.lit("1"))
                .when(pl.col("p1").is_not_null()).then(pl.lit("0")).alias("prediction"),
                pl.col("p1").alias("score"),
            )  # fmt: skip
            return frame["prediction"], frame["score"]
    values = body.str.split(",").list.eval(pl.element().cast(pl.Float64, strict=False))
    if bool(values.list.eval(pl.element().is_null()).list.any().any()):  # not all numbers
        return None
    p = pl.col("p")
    frame = pl.DataFrame({"p": values}).select(
        p.list.arg_max().cast(pl.String).alias("prediction"),
        pl.when(p.list.len() == 2).then(p.list.get(1, null_on_oob=True))
        .otherwise(p.list.max()).alias("score"),
    )  # fmt: skip
    return frame["prediction"], frame["score"]


_PREDICTION_KEYS = ("prediction", "label", "class")  # of a logged answer that is an object
_SCORE_KEYS = ("score", "probability", "proba")
_RECORD_HEAD = '[{"prediction":'
_RECORD_SCORE = ',"score":'


def _single_records(ok: pl.Series) -> tuple[pl.Series, pl.Series] | None:
    """The prediction and score of outputs that are each one answer with its score, as the
    gateway logs a classifier's (`[{"prediction":"yes","score":0.83}]`, orjson's bytes), cut
    by string operations; None when an output has another shape (decode it then)."""
    import polars as pl

    present = ok.drop_nulls()
    if not len(present) or not bool(
        (present.str.starts_with(_RECORD_HEAD) & present.str.ends_with("}]")).all()
    ):
        return None
    body = ok.str.strip_prefix(_RECORD_HEAD).str.strip_suffix("}]")
    parts = body.str.split_exact(_RECORD_SCORE, 2).struct.unnest()
    if bool(parts["field_2"].is_not_null().any()) or bool(
        parts["field_1"].str.contains("}", literal=True).any()  # several answers
    ):
        return None
    score = parts["field_1"].cast(pl.Float64, strict=False)
    text = parts["field_0"]
    quoted = text.str.starts_with('"') & text.str.ends_with('"')
    if score.null_count() != body.null_count() or bool(
        (quoted & text.str.contains("\\", literal=True)).any()  # an escape: decode it
    ):
        return None
    t = pl.col("t")
    unquoted = t.str.slice(1, t.str.len_chars() - 2)
    prediction = (
        pl.DataFrame({"t": text, "q": quoted})
        .select(pl.when(pl.col("q")).then(unquoted).when(t != "null").then(t))
        .to_series()
    )
    return prediction, score


def _output_row(text: str | None) -> tuple[list[str | None] | None, list[float | None] | None]:
    if text is None:
        return None, None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(value, list):
        return None, None
    predictions: list[str | None] = []
    scores: list[float | None] = []
    for item in value:
        score: float | None = None
        prediction: str | None = _text(item)
        if isinstance(item, bool | int | float):
            score = float(item)
        elif isinstance(item, list) and item and all(isinstance(p, int | float) for p in item):
            score = float(item[1]) if len(item) == 2 else float(max(item))
            prediction = str(max(range(len(item)), key=item.__getitem__))
        elif isinstance(item, dict):
            for key in _SCORE_KEYS:
                if isinstance(item.get(key), int | float):
                    score = float(item[key])
                    break
            for key in _PREDICTION_KEYS:
                if key in item:
                    prediction = _text(item[key])
                    break
        predictions.append(prediction)
        scores.append(score)
    return predictions, scores


def _expand_inputs(values: pl.DataFrame) -> pl.DataFrame:
    """One column per logged input column. Requests logged with other columns (another
    version's signature) are expanded apart and stacked; a column they lack is null there."""
    import polars as pl

    values = values.with_row_index("_at")
    parts: list[pl.DataFrame] = []
    layouts = values.select(pl.col("_columns").unique()).to_series().to_list()
    for layout in layouts:
        if layout is None:
            continue
        part = values.filter(pl.col("_columns") == pl.lit(layout, pl.List(pl.String)))
        parts.append(
            part.select(
                "_at",
                *(
                    pl.col("_values").list.get(i, null_on_oob=True).alias(name)
                    for i, name in enumerate(layout)
                    if name != "_at"
                ),
            )
        )
    if not parts:  # no request logged its inputs
        return pl.DataFrame()
    if len(parts) == 1 and parts[0].height == values.height:  # one layout, the usual case
        only = parts[0].drop("_at")
        return only.with_columns(*(_typed(only[name]) for name in only.columns))
    stacked = pl.concat(parts, how="diagonal")
    joined = values.select("_at").join(stacked, on="_at", how="left").sort("_at").drop("_at")
    return joined.with_columns(*(_typed(joined[name]) for name in joined.columns))


def _typed(column: pl.Series) -> pl.Series:
    """A column of logged text as numbers or booleans when every value is one."""
    import polars as pl

    present = column.drop_nulls()
    if present.len() == 0:
        return column.cast(pl.Float64)
    if present.is_in(["true", "false"]).all():
        return column == "true"
    numbers = column.cast(pl.Float64, strict=False)
    if numbers.null_count() == column.null_count():
        integers = column.cast(pl.Int64, strict=False)
        if integers.null_count() == column.null_count():
            return integers
        return numbers
    return column
