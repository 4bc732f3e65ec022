"""Evaluation records: a model version evaluated on a dataset version. Private to this domain
(and to gc, which purges them with their project)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from tandem.store.base import metadata

evaluations = Table(
    "evaluations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("project_pk", Integer, nullable=False),
    Column("model_version_pk", Integer, nullable=False),
    Column("dataset_version_pk", Integer, nullable=False),
    Column("baseline_version_pk", Integer, nullable=True),
    Column("task", String(16), nullable=False),  # binary, regression
    Column("target", String(250), nullable=False),
    Column("threshold", Float, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("headline", Text, nullable=False),  # JSON: the overall metrics, for lists
    Column("report", Text, nullable=False),  # JSON, see tandem.evaluation.report
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index("ix_evaluations_model_version", "model_version_pk", "pk"),
    Index("ix_evaluations_dataset_version", "dataset_version_pk"),
)
