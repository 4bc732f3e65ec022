"""Reading tabular data: one place that turns files into Polars frames, with clear errors.

Profiles, validation and the PII scan all read through here, so every bad input (malformed CSV,
mixed types, a wrong encoding, an empty file) gets the same clear `UnreadableData`, whichever
feature met it first. Reads are lazy scans: Polars streams them in bounded memory, and a table
of many files is read as one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.errors import LimitExceeded, UnreadableData

if TYPE_CHECKING:
    import polars as pl

PART_ROWS = 1_048_576  # rows of Parquet per distributed task, at least (whole row groups)
BATCH_ROWS = 262_144  # rows per streamed batch: a few MiB per column, large enough to vectorise
CSV_INFER_ROWS = 10_000  # rows read to infer CSV column types (Polars' default of 100 is too few)


class TableFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"


SUFFIXES: dict[str, TableFormat] = {
    ".csv": TableFormat.CSV,
    ".parquet": TableFormat.PARQUET,
    ".pq": TableFormat.PARQUET,
    ".jsonl": TableFormat.JSONL,
    ".ndjson": TableFormat.JSONL,
}


def detect_format(name: str) -> TableFormat | None:
    """The table format a file name says, or None for a file that is not a table."""
    return SUFFIXES.get(Path(name).suffix.lower())


def table_format(names: Sequence[str]) -> TableFormat | None:
    """The one table format shared by all `names`, or None if they are not all one kind of table.

    A dataset version is profiled and validated as a table only when every file in it is a table
    of the same format (a folder of Parquet parts, say); anything else is versioned as plain files.
    """
    formats = {detect_format(name) for name in names}
    if len(formats) != 1:
        return None
    return formats.pop()


def scan_table(
    paths: Sequence[Path], fmt: TableFormat, schema: pl.Schema | None = None
) -> pl.LazyFrame:
    """A lazy scan of the files `paths` as one table. Errors surface when it is collected;
    collect through `collect` (or iterate with `iter_batches`) to get them as `UnreadableData`.
    With `schema`, CSV and JSON lines are read with those column types instead of inferring
    them (so a part of a table reads as the whole does); Parquet keeps its own types."""
    import polars as pl

    if not paths:
        raise UnreadableData("no files to read")
    sources = [str(path) for path in paths]
    if fmt is TableFormat.PARQUET:
        return pl.scan_parquet(sources)
    if fmt is TableFormat.CSV:
        if schema is not None:
            return pl.scan_csv(sources, schema=schema, raise_if_empty=True)
        # ISO dates and timestamps read as dates, so freshness and date ranges apply to CSV
        return pl.scan_csv(
            sources, infer_schema_length=CSV_INFER_ROWS, raise_if_empty=True, try_parse_dates=True
        )
    if schema is not None:
        return pl.scan_ndjson(sources, schema=schema)
    return pl.scan_ndjson(sources, infer_schema_length=CSV_INFER_ROWS)


def read_schema(paths: Sequence[Path], fmt: TableFormat) -> pl.Schema:
    """The schema of the table in `paths` (CSV and JSON lines: inferred from their first
    CSV_INFER_ROWS rows), with read errors as `UnreadableData`."""
    try:
        return scan_table(paths, fmt).collect_schema()
    except Exception as error:
        raise read_error(error, "the table") from None


@dataclass(frozen=True)
class TablePart:
    """A piece of a table that one task processes: a file, or rows of a Parquet file (whole row
    groups, so a reader of `rows` rows from `offset` reads only those)."""

    path: Path
    offset: int = 0
    rows: int | None = None  # None: the whole file


def table_parts(
    paths: Sequence[Path], fmt: TableFormat, part_rows: int = PART_ROWS
) -> list[TablePart]:
    """The pieces the table in `paths` is processed in across workers, in table order: one per
    file, and a Parquet file of several row groups split into runs of whole row groups of at
    least `part_rows` rows (so one large file is not one task). The same files always give the
    same parts, whatever runs them, so merged results do not depend on where they ran.

    Raises:
        UnreadableData: a Parquet file's footer cannot be read.
    """
    if fmt is not TableFormat.PARQUET:
        return [TablePart(Path(path)) for path in paths]
    import pyarrow.parquet as pq

    parts: list[TablePart] = []
    for path in paths:
        try:
            meta = pq.read_metadata(path)
        except Exception as error:
            raise read_error(error, "the table") from None
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if sum(sizes) < 2 * part_rows:
            parts.append(TablePart(Path(path)))
            continue
        offset = rows = 0
        for size in sizes:
            rows += size
            if rows >= part_rows:
                parts.append(TablePart(Path(path), offset, rows))
                offset, rows = offset + rows, 0
        if rows:  # a short tail joins the last part
            last = parts.pop()
            parts.append(TablePart(last.path, last.offset, (last.rows or 0) + rows))
    return parts


def scan_part(part: TablePart, fmt: TableFormat, schema: pl.Schema | None = None) -> pl.LazyFrame:
    """A lazy scan of one `TablePart` (`schema` as for `scan_table`)."""
    frame = scan_table([part.path], fmt, schema)
    return frame if part.rows is None else frame.slice(part.offset, part.rows)


def collect(frame: pl.LazyFrame, what: str = "the table") -> pl.DataFrame:
    """Collect `frame` with the streaming engine, turning read errors into `UnreadableData`;
    under a time budget (`limits.budget`), cancelled when it runs out."""
    from tandem.data.limits import collect_within

    try:
        return collect_within(frame)
    except LimitExceeded:
        raise
    except Exception as error:
        raise read_error(error, what) from None


def iter_batches(
    paths: Sequence[Path],
    fmt: TableFormat,
    batch_rows: int = BATCH_ROWS,
    schema: pl.Schema | None = None,
) -> Iterator[pl.DataFrame]:
    """The table in `paths` as a stream of frames of about `batch_rows` rows: bounded memory
    whatever the size of the files. `schema` as for `scan_table`."""
    return iter_frame_batches(scan_table(paths, fmt, schema), batch_rows)


def iter_frame_batches(frame: pl.LazyFrame, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """A lazy frame as a stream of frames of about `batch_rows` rows, with read errors as
    `UnreadableData`; under a time budget, checked before each batch is read (the stream
    stops reading when the consumer stops)."""
    from tandem.data.limits import check_budget

    try:
        check_budget()
        for batch in frame.collect_batches(chunk_size=batch_rows):
            yield batch
            check_budget()
    except (UnreadableData, LimitExceeded):
        raise
    except Exception as error:
        raise read_error(error, "the table") from None


def read_error(error: Exception, what: str) -> UnreadableData:
    """A one-line, user-facing error for a failure to read tabular data."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = message.lower()
    if "utf-8" in lowered or "utf8" in lowered or "invalid utf" in lowered:
        hint = "it is not valid UTF-8 (re-encode it, e.g. iconv -f latin1 -t utf-8)"
    elif "empty" in lowered or "no data" in lowered:
        hint = "it is empty"
    elif "could not parse" in lowered or "parse" in lowered or "cast" in lowered:
        hint = "a value does not match its column's type (mixed types in a column?)"
    else:
        hint = "it is not a readable table"
    return UnreadableData(f"cannot read {what}: {hint}: {message}")
