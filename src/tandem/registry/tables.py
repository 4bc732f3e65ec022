"""Registry tables. Private to this domain (and to gc, which purges them).

A model version is immutable once registered: its files (`model_version_files`: path -> blob
oid, copied from the run's artifacts when it is registered, so gc keeps them even after the run
is purged) and how to load them (flavor, format, signature). What moves is its lifecycle stage
and the aliases that point at it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from tandem.store.base import BLOB_OID, metadata

registered_models = Table(
    "registered_models",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON object of str -> str
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("project_pk", "name", name="uq_registered_models_project_name"),
)
# Names that differ only by case are one model: `Churn` and `churn` would read as the same in
# a card, a log line or a URL typed by hand. The name keeps the case it was first written in.
# (Model names are ASCII, so lower() agrees on SQLite and PostgreSQL.)
Index(
    "uq_registered_models_project_lower_name",
    registered_models.c.project_pk,
    func.lower(registered_models.c.name),
    unique=True,
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("model_pk", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("format", String(32), nullable=False),
    Column("trusted", Boolean, nullable=False),  # pickle-based: runs code when loaded
    Column("run_pk", Integer, nullable=True),
    Column("artifact_path", String(1024), nullable=False),
    Column("signature", Text, nullable=True),  # JSON {inputs: [...], outputs: [...]}
    Column("requirements", Text, nullable=False, default="[]"),  # JSON list of "pkg==1.2"
    Column("library_version", String(64), nullable=True),
    Column("stage", String(32), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("stage_changed_at", BigInteger, nullable=False),
    Column("stage_changed_by", String(250), nullable=False),
    UniqueConstraint("model_pk", "version", name="uq_model_versions_version"),
    Index("ix_model_versions_run", "run_pk"),
)

model_version_files = Table(
    "model_version_files",
    metadata,
    Column("version_pk", Integer, nullable=False),
    Column("path", String(1024), nullable=False),
    Column("oid", String(64), nullable=False, info=BLOB_OID),
    Column("size", BigInteger, nullable=False),
    PrimaryKeyConstraint("version_pk", "path"),
    Index("ix_model_version_files_oid", "oid"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_pk", Integer, nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version_pk", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    PrimaryKeyConstraint("model_pk", "alias"),
)

# The model card's free-text sections, written by the team (per model: they hold for every
# version; the rest of the card is generated from the records).
model_card_texts = Table(
    "model_card_texts",
    metadata,
    Column("model_pk", Integer, nullable=False),
    Column("section", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    PrimaryKeyConstraint("model_pk", "section"),
)
