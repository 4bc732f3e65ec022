"""Alerting tables. Private to this domain (gc purges them through the service).

A project's alert settings; its alerts (one row per firing of a fingerprint, from start to
resolution); its silences; the engine's state per project (JSON, as the pure engine serialises
it) and the cursor over the monitors' results (one row per consumer); and the delivery queue,
one row per message per channel, which `deliver_due` works through with retries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tandem.store.base import metadata

alert_settings = Table(
    "alert_settings",
    metadata,
    Column("project_pk", Integer, ForeignKey("projects.pk"), primary_key=True),
    Column("group_by", Text, nullable=False),  # JSON list of label names
    Column("group_wait_s", Integer, nullable=False),
    Column("group_interval_s", Integer, nullable=False),
    Column("repeat_interval_s", Integer, nullable=False),
    Column("escalate_after_s", Integer, nullable=False),
    Column("pagerduty_url", String(2000), nullable=False),
    Column("pagerduty_routing_key", String(64), nullable=True),  # a secret: never logged
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(16), nullable=False),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("name", String(250), nullable=False),
    Column("endpoint", String(64), nullable=True),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("labels", Text, nullable=False),  # JSON
    Column("annotations", Text, nullable=False),  # JSON
    Column("value", Float, nullable=True),
    Column("starts_at", BigInteger, nullable=False),
    Column("fired_at", BigInteger, nullable=True),
    Column("ends_at", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Column("acked_by", String(250), nullable=True),
    Column("acked_at", BigInteger, nullable=True),
    Column("notified_at", BigInteger, nullable=True),  # first notified: escalation counts from it
    Column("escalated_at", BigInteger, nullable=True),
    Column("recipients", Text, nullable=False),  # JSON list of member names
    Column("incident", String(100), nullable=True),
    UniqueConstraint("id", name="uq_alerts_id"),
    # one row per firing: a fingerprint that fires again after resolving starts a new row
    UniqueConstraint("project_pk", "fingerprint", "starts_at", name="uq_alerts_firing"),
    Index("ix_alerts_project_state", "project_pk", "state", "pk"),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(16), nullable=False),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("matchers", Text, nullable=False),  # JSON list of matcher texts
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("author", String(250), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expired_at", BigInteger, nullable=True),
    Column("expired_by", String(250), nullable=True),
    UniqueConstraint("id", name="uq_alert_silences_id"),
    Index("ix_alert_silences_project_ends", "project_pk", "ends_at"),
)

alert_engine_state = Table(
    "alert_engine_state",
    metadata,
    Column("project_pk", Integer, ForeignKey("projects.pk"), primary_key=True),
    Column("state", Text, nullable=False),  # JSON, the engine's own serialisation
    Column("updated_at", BigInteger, nullable=False),
)

alert_cursors = Table(
    "alert_cursors",
    metadata,
    Column("name", String(64), primary_key=True),  # the consumer, e.g. "monitor-results"
    Column("cursor", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(16), nullable=False),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("alert_pk", Integer, ForeignKey("alerts.pk"), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(500), nullable=False),
    Column("body", Text, nullable=False),  # JSON: what is posted (or the app notification)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    UniqueConstraint("id", name="uq_alert_deliveries_id"),
    Index("ix_alert_deliveries_due", "state", "next_attempt_at"),
    Index("ix_alert_deliveries_project", "project_pk", "pk"),
)
