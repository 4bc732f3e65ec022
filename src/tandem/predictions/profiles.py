"""The prediction log's stored profiles, with no I/O: a shipped batch decoded once (`logframe`)
and profiled per (model, version, aligned `BUCKET_MS` bucket) with the data domain's mergeable
sketches, so a monitor's window is the merge of its buckets' profiles, not a decode of the log.

A window whose bounds are not on bucket boundaries cannot be answered from buckets: the
monitors read the log for those (`aligned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from tandem.predictions import logframe

if TYPE_CHECKING:
    import pyarrow as pa

BUCKET_MS = 5 * 60_000
"""Profiles are stored per 5-minute bucket of the predictions' time: a window of a whole number
of buckets (every window of 5, 10, 15 ... minutes, an hour, a day) merges them."""


@dataclass(frozen=True, slots=True)
class BucketProfile:
    """The profiles of one segment's rows of one model version in one bucket."""

    model: str
    version: int
    bucket_start: int
    rows: int
    inputs: str  # `Profile.to_json` of the input columns, as JSON text
    scores: str | None  # of `score` (requests with status < 400), None when there is none


def aligned(since: int, until: int) -> bool:
    """Whether [since, until) is a whole number of buckets."""
    return since % BUCKET_MS == 0 and until % BUCKET_MS == 0 and until > since


def bucket_profiles(table: pa.Table, first_at: int, last_at: int) -> list[BucketProfile]:
    """The profiles of a checked batch (`segments.Batch.table`), one per (model, version,
    bucket) present in it."""
    import polars as pl

    from tandem.data.service import profile_frame

    decoded = logframe.frames([table], since=first_at, until=last_at + 1, with_inputs=True)
    meta = decoded.meta.with_columns(
        (pl.col("at") // BUCKET_MS * BUCKET_MS).alias("_bucket"), pl.int_range(pl.len()).alias("_i")
    )
    inputs = decoded.inputs
    out: list[BucketProfile] = []
    groups = meta.group_by("model", "version", "_bucket", maintain_order=True).agg(pl.col("_i"))
    for model, version, bucket, rows in groups.iter_rows():
        index = pl.Series("_i", rows, dtype=pl.UInt32)
        part = inputs[index] if inputs.width else pl.DataFrame()
        scored = meta[index].filter(pl.col("status") < 400)["score"].drop_nulls()
        score_frame = pl.DataFrame({"score": scored.cast(pl.Float64)})
        scores = _json(profile_frame(score_frame), scored.len()) if scored.len() else None
        inputs_json = _json(profile_frame(part), len(rows))
        out.append(
            BucketProfile(str(model), int(version), int(bucket), len(rows), inputs_json, scores)
        )
    return out


def _json(profile: Any, rows: int) -> str:
    """`Profile.to_json` without its display summary: what `Profile.from_json` reads (the
    format, the rows and the sketches), in less time and space."""
    from tandem.data.service import Profile

    head = Profile(0, {}).to_json()
    state = {name: column.state() for name, column in profile.columns.items()}
    return orjson.dumps({"format": head["format"], "rows": rows, "state": state}).decode()
