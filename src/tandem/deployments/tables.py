"""Deployments tables. Private to this domain (and to gc, which purges them through the service).

An endpoint's rows: the endpoint itself (its settings, `policy_version`, the rollback target);
every deployment ever made on it (`active` ones make the policy; the others stay, so history,
figures and the rollback target keep naming what they were); its rollouts; the immutable event
history; and the figures gateways report, one row per gateway, deployment and window.

A deployment keeps a snapshot of its model version's loading description (flavor, format,
signature, files): a registered version never changes, and the gateway's policy poll then reads
this domain's tables alone.
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

endpoints = Table(
    "endpoints",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("production", Boolean, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("sticky_key", String(250), nullable=True),
    Column("sampling", Float, nullable=False),
    Column("log_personal", Boolean, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("rollback_target", String(16), nullable=True),  # a deployment id of this endpoint
    Column("warm_until", BigInteger, nullable=True),  # blue-green: the standby's end, ms
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_pk", "name", name="uq_endpoints_project_name"),
)

endpoint_deployments = Table(
    "endpoint_deployments",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("endpoint_pk", Integer, ForeignKey("endpoints.pk"), nullable=False),
    Column("deployment_id", String(16), nullable=False),
    Column("version_pk", Integer, nullable=False),  # the registry's model version
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("weight", Float, nullable=False),
    Column("mirror", Float, nullable=False),
    Column("active", Boolean, nullable=False),  # part of the endpoint's policy
    Column("runtime", Text, nullable=False),  # JSON Runtime
    Column("flavor", String(32), nullable=False),
    Column("format", String(32), nullable=False),
    Column("pickled", Boolean, nullable=False),  # the version's format runs code when loaded
    Column("signature", Text, nullable=True),  # JSON
    Column("files", Text, nullable=False),  # JSON [{path, oid, size}]
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("deployment_id", name="uq_endpoint_deployments_id"),
    Index("ix_endpoint_deployments_endpoint", "endpoint_pk", "active"),
    Index("ix_endpoint_deployments_version", "version_pk"),
)

endpoint_rollouts = Table(
    "endpoint_rollouts",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", String(16), nullable=False),
    Column("endpoint_pk", Integer, ForeignKey("endpoints.pk"), nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("candidate", String(16), nullable=False),
    Column("baseline", String(16), nullable=True),
    Column("steps", Text, nullable=False),  # JSON list of weights
    Column("step", Integer, nullable=False),
    Column("interval_s", Float, nullable=False),
    Column("guards", Text, nullable=False),  # JSON list of guard texts
    Column("min_samples", Integer, nullable=False),
    Column("mirror", Float, nullable=True),
    Column("warm_s", Float, nullable=True),
    Column("status", String(24), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("step_started_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("started_by", String(250), nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("last_analysis", Text, nullable=True),  # JSON Analysis
    UniqueConstraint("rollout_id", name="uq_endpoint_rollouts_id"),
    Index("ix_endpoint_rollouts_endpoint", "endpoint_pk", "pk"),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column("endpoint_pk", Integer, ForeignKey("endpoints.pk"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("before", Text, nullable=False),  # JSON model@version -> weight
    Column("after", Text, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON
    Column("message", Text, nullable=False, default=""),
    PrimaryKeyConstraint("endpoint_pk", "seq"),
    Index("ix_deployment_events_at", "endpoint_pk", "at"),
)

deployment_windows = Table(
    "deployment_windows",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("endpoint_pk", Integer, ForeignKey("endpoints.pk"), nullable=False),
    Column("deployment_id", String(16), nullable=False),
    Column("gateway", String(100), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("latency_counts", Text, nullable=False),  # JSON list, LatencyBuckets
    Column("shadow", Text, nullable=True),  # JSON ShadowFigures
    Column("dropped_logs", BigInteger, nullable=False),
    # a gateway retrying a report sends the same windows again: they count once
    UniqueConstraint(
        "endpoint_pk", "deployment_id", "gateway", "start", name="uq_deployment_windows_window"
    ),
    Index("ix_deployment_windows_deployment", "endpoint_pk", "deployment_id", "start"),
    Index("ix_deployment_windows_end", "endpoint_pk", "end"),
)
