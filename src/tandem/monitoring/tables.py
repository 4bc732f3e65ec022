"""Monitoring tables. Private to this domain (gc purges them through `MonitoringService`).

- `monitors`: one row per monitor; its whole spec as JSON, the columns queries filter on beside
  it, and `state` (JSON): what the monitor keeps between windows (prediction drift's baseline
  profile of the scores, per version).
- `monitor_results`: one row per (monitor, window), the figure and its verdict. `seq` orders
  them for alerting (`results_since`); a window evaluated again (its labels changed) replaces its
  row with a new `seq`, so a reader after the old one sees the new one.
- `monitor_claims`: the lease a worker holds on a (monitor, window) while it evaluates it. A
  claim is a row insert, so two workers cannot both take one; an expired lease (a worker that
  died) may be taken over, and the result is written only by the holder of the claim, in the
  transaction that deletes it.

Endpoints are named, not referenced (as in the prediction log): a monitor outlives nothing of
the deployments domain's rows, and the service checks the endpoint exists when it is created.
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
    UniqueConstraint,
)

from tandem.store.base import metadata

monitors = Table(
    "monitors",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("version", String(300), nullable=True),  # model@version, or every version serving
    Column("kind", String(32), nullable=False),
    Column("window_ms", BigInteger, nullable=False),
    Column("spec", Text, nullable=False),  # JSON MonitorSpec (by alias)
    Column("state", Text, nullable=False, default="{}"),  # JSON, see the module docstring
    Column("source", String(16), nullable=False),  # user | project | default
    Column("owner", String(250), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_pk", "name", name="uq_monitors_project_name"),
    Index("ix_monitors_project_endpoint", "project_pk", "endpoint"),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("monitor_pk", Integer, ForeignKey("monitors.pk"), nullable=False),
    Column("project_pk", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("version", String(300), nullable=True),
    Column("value", Float, nullable=True),
    Column("condition", String(200), nullable=False),
    Column("breached", Boolean, nullable=True),  # None: no data to judge
    Column("estimated", Boolean, nullable=False),
    Column("band_low", Float, nullable=True),
    Column("band_high", Float, nullable=True),
    Column("samples", BigInteger, nullable=False),
    Column("details", Text, nullable=False),  # JSON
    Column("evaluated_at", BigInteger, nullable=False),
    Column("evaluated_by", String(250), nullable=False),
    # one result per window: the last guard against a window evaluated twice
    UniqueConstraint("monitor_pk", "window_start", name="uq_monitor_results_window"),
    # SQLite: never reuse a deleted row's seq (a window evaluated again replaces the newest
    # row; alerting's cursor must see its new result as new)
    sqlite_autoincrement=True,
)

monitor_claims = Table(
    "monitor_claims",
    metadata,
    Column("monitor_pk", Integer, ForeignKey("monitors.pk"), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("worker", String(250), nullable=False),
    Column("token", String(32), nullable=False),  # this claim, not just this worker's name
    Column("expires_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("monitor_pk", "window_start", name="pk_monitor_claims"),
)
