"""Outcome tables. Private to this domain (gc purges them through `OutcomeService`).

Labels are not rows here: a label file becomes one Parquet file in the blob store (the labels
joined to the log, `oid`) and one row in `outcome_label_batches`; `outcome_label_windows` says
which hourly windows a batch has labels in, so a window's metrics are recomputed from the
batches that touch it. `outcome_windows` holds one row of realised figures per model version
and window; `outcome_kpis` the business figures posted from outside.

Endpoints are named, not referenced (as the prediction log keeps them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
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

outcome_label_batches = Table(
    "outcome_label_batches",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),  # the order labels came in
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("oid", String(64), nullable=False, info=BLOB_OID),  # the joined labels (Parquet)
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
)
Index(
    "ix_outcome_label_batches_endpoint",
    outcome_label_batches.c.project_pk,
    outcome_label_batches.c.endpoint,
)

outcome_label_windows = Table(
    "outcome_label_windows",
    metadata,
    Column("project_pk", Integer, nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column(
        "batch_pk",
        Integer,
        ForeignKey("outcome_label_batches.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    PrimaryKeyConstraint(
        "project_pk", "endpoint", "window_start", "batch_pk", name="pk_outcome_label_windows"
    ),
)
Index("ix_outcome_label_windows_batch", outcome_label_windows.c.batch_pk)

outcome_windows = Table(
    "outcome_windows",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("figures", Text, nullable=False),  # JSON: kind, metrics, bands, reliability, fairness
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint(
        "project_pk", "endpoint", "model", "version", "window_start", name="uq_outcome_windows"
    ),
)
Index(
    "ix_outcome_windows_updated",
    outcome_windows.c.project_pk,
    outcome_windows.c.endpoint,
    outcome_windows.c.updated_at,
)
Index(
    "ix_outcome_windows_start",
    outcome_windows.c.project_pk,
    outcome_windows.c.endpoint,
    outcome_windows.c.window_start,
)

outcome_kpis = Table(
    "outcome_kpis",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("value", Float, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("model", String(200), nullable=True),
    Column("version", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
)
Index(
    "ix_outcome_kpis_endpoint_at",
    outcome_kpis.c.project_pk,
    outcome_kpis.c.endpoint,
    outcome_kpis.c.at,
)
