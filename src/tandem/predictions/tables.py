"""Prediction log tables. Private to this domain (gc purges them through `PredictionService`).

A shipped batch becomes one segment: a Parquet file in the blob store (`oid`) and a row here.
`prediction_index` maps each logged request to its segment and row, keyed by a 64-bit hash of
(project, endpoint, request id) rather than the id itself: the index stays a third of the size
(a million predictions are ~16 MB, not ~60 MB) and is written in bulk; a lookup reads the row it
points at and checks the request id there, so a hash collision costs one more read, never a
wrong answer.

Endpoints are named, not referenced: the log keeps its rows by project and endpoint name, with
no foreign key into the deployments tables (the service checks the endpoint exists).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import BLOB_OID, metadata

prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("gateway", String(100), nullable=False),
    Column("batch", String(100), nullable=False),
    # BLAKE3 of the shipped Arrow body: a retry of the batch is the same bytes
    Column("digest", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("first_at", BigInteger, nullable=False),
    Column("last_at", BigInteger, nullable=False),
    Column("versions", Text, nullable=False),  # JSON object: `model@version` -> rows
    Column("size", BigInteger, nullable=False),
    Column("oid", String(64), nullable=False, info=BLOB_OID),  # the Parquet file
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    # a batch is stored once: a retried upload finds it here
    UniqueConstraint(
        "project_pk", "endpoint", "gateway", "batch", name="uq_prediction_segments_batch"
    ),
)
# segments of an endpoint over a time range (monitoring reads them in order)
Index(
    "ix_prediction_segments_endpoint_last_at",
    prediction_segments.c.project_pk,
    prediction_segments.c.endpoint,
    prediction_segments.c.last_at,
)

prediction_index = Table(
    "prediction_index",
    metadata,
    # 64-bit hash of (project pk, endpoint, request id): `tandem.predictions.segments.request_key`
    Column("request_key", BigInteger, nullable=False),
    # No foreign key: rows are written by the hundred thousand and purged with their segments;
    # PostgreSQL would otherwise scan this table for every segment row deleted.
    Column("segment_pk", Integer, nullable=False),
    Column("position", Integer, nullable=False),  # the row in the segment's Parquet file
    PrimaryKeyConstraint("request_key", "segment_pk", "position", name="pk_prediction_index"),
    # SQLite: the primary key is the table (one B-tree, no rowid beside it)
    sqlite_with_rowid=False,
)

prediction_profiles = Table(
    "prediction_profiles",
    metadata,
    # The mergeable profiles (the data domain's sketches, `Profile.to_json`) of a segment's rows
    # per (model, version, aligned `profiles.BUCKET_MS` bucket of `at`), written once when the
    # batch is shipped: monitors merge a window's buckets instead of decoding the log again.
    # No foreign key, as for the index: purged with their segments.
    Column("segment_pk", Integer, nullable=False),
    Column("project_pk", Integer, nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON profile of the logged input columns
    Column("scores", Text, nullable=True),  # JSON profile of `score` (status < 400), if any
    PrimaryKeyConstraint(
        "segment_pk", "model", "version", "bucket_start", name="pk_prediction_profiles"
    ),
)
# the buckets of an endpoint over a time range (a monitor's window)
Index(
    "ix_prediction_profiles_endpoint_bucket",
    prediction_profiles.c.project_pk,
    prediction_profiles.c.endpoint,
    prediction_profiles.c.bucket_start,
)
