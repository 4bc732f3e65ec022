"""Tracking tables. Private to this domain.

Runs have an integer surrogate key (`pk`) for compact joins and indexes; `id` is the public
32-hex id. Metric keys are interned in `metric_keys` so a point row is five numbers.
`latest_metrics` keeps each run's newest value per key (highest step, then newest timestamp),
with the project copied in, so "filter on a metric, order by a metric" is one index range scan
over `(project_pk, key_id, value, run_pk)` that stops after a page, at 100,000 runs as at 100;
`run_pk` is in the index because it is the order's tie-breaker.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    column,
    false,
    table,
)

from tandem.store.base import BLOB_OID, metadata

# On SQLite, tables keyed by (run, key) are stored in primary-key order (WITHOUT ROWID:
# `sqlite_with_rowid=False`), so reading one run's params or latest metrics is one range scan,
# not a lookup per row.

runs = Table(
    "runs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("user", String(250), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("seed", BigInteger, nullable=True),
    Column("environment", Text, nullable=False, default="{}"),  # JSON, see models.Environment
    Column("deleted_at", BigInteger, nullable=True),
    Index("ix_runs_project_start", "project_pk", "start_time"),
)

metric_keys = Table(
    "metric_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False, server_default=false()),  # value is then 0
    Index("ix_metrics_run_key_step", "run_pk", "key_id", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("project_pk", Integer, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False, server_default=false()),  # value is then 0
    PrimaryKeyConstraint("run_pk", "key_id"),
    Index("ix_latest_metrics_project_key_value", "project_pk", "key_id", "value", "run_pk"),
    sqlite_with_rowid=False,
)

params = Table(
    "params",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_pk", "key"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_pk", "key"),
    sqlite_with_rowid=False,
)

# One row per applied batch: a retried batch (same id) is acknowledged without being applied twice.
batches = Table(
    "batches",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("batch_id", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_pk", "batch_id"),
    sqlite_with_rowid=False,
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("path", String(1024), nullable=False),
    Column("oid", String(64), nullable=False, info=BLOB_OID),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_pk", "path"),
    Index("ix_artifacts_oid", "oid"),
    sqlite_with_rowid=False,
)

# -- read model: the projects a run's row reads ------------------------------------------------
# Every write looks its run up with its project's name and whether the project is deleted, and
# every search row carries the project's name: one join, on the hot paths, so tracking reads
# these three columns of the projects domain's table by name (never by importing its tables).
# They are the whole of what tracking reads there; the rest goes through `ProjectService`.
project_names = table(
    "projects",
    column("pk", Integer),
    column("name", String),
    column("deleted_at", BigInteger),
)

RUN_COLUMNS = (
    runs.c.pk,
    runs.c.id,
    runs.c.name,
    runs.c.status,
    runs.c.user,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.seed,
    runs.c.deleted_at,
    runs.c.project_pk,
    project_names.c.name.label("project"),
)
"""What a run's row holds (`RunRow`): its columns and its project's name."""

RUNS_WITH_PROJECT = runs.join(project_names, project_names.c.pk == runs.c.project_pk)
