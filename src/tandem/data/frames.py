"""Reading tabular data: one place that turns files into Polars frames, with clear errors.

Profiles, validation and the PII scan all read through here, so every bad input (malformed CSV,
mixed types, a wrong encoding, an empty file) gets the same clear `UnreadableData`, whichever
feature met it first. Reads are lazy scans: Polars streams them in bounded memory, and a table
of many files is read as one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.errors import UnreadableData

if TYPE_CHECKING:
    import polars as pl

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


def collect(frame: pl.LazyFrame, what: str = "the table") -> pl.DataFrame:
    """Collect `frame` with the streaming engine, turning read errors into `UnreadableData`."""
    try:
        return frame.collect(engine="streaming")
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
    frame = scan_table(paths, fmt, schema)
    try:
        yield from frame.collect_batches(chunk_size=batch_rows)
    except UnreadableData:
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
