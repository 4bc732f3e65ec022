"""The prediction log: every prediction a gateway served, shipped to the hub in batches and
stored as columnar segments (Parquet) in the blob store, indexed by request id so that
"which version answered request R" is one lookup, and so monitoring can join late labels.

A batch travels as an Arrow IPC stream with the columns of `BATCH_SCHEMA`; `batch` ids make a
retried upload idempotent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

BATCH_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "at": "int64 (ms since the epoch)",
    "deployment": "string",
    "model": "string",
    "version": "int64",
    "status": "int32 (HTTP status)",
    "latency_ms": "float64",
    "inputs": "string (JSON of the rows; personal columns masked)",
    "output": "string (JSON of the answer)",
}
"""The columns of a shipped batch, in order."""

MAX_BATCH_ROWS = 100_000
MAX_BATCH_BYTES = 64 * 1024 * 1024
ARROW_STREAM = "application/vnd.apache.arrow.stream"
"""The media type of a shipped batch."""
PARQUET = "application/vnd.apache.parquet"
"""The media type of a segment's file."""


class BatchAck(BaseModel):
    batch: str
    rows: int
    segment: str = Field(description="the segment's id")
    duplicate: bool = Field(False, description="this batch was stored before (a retry)")


class Prediction(BaseModel):
    """One logged prediction."""

    project: str
    endpoint: str
    request_id: str
    at: int
    deployment: str
    model: str
    version: int
    status: int
    latency_ms: float
    inputs: Any = None
    output: Any = None
    segment: str


class Segment(BaseModel):
    id: str
    endpoint: str
    gateway: str
    batch: str
    rows: int
    first_at: int
    last_at: int
    versions: dict[str, int] = Field(description="`model@version` -> rows")
    size: int
    oid: str
    created_at: int
