"""Dataset tables. Private to this domain (and to gc, which purges them).

A dataset version is immutable: its manifest (`dataset_files`: relative path -> blob oid) and
the digest over that manifest never change. What is computed from the data (schema, profile, PII
findings) is stored with the version when it is added; validation results are appended as
contracts are checked (`dataset_validations`), so the history of verdicts is kept. Contracts
are versioned per dataset (`dataset_contracts`, revision 1, 2, ...), and each version records
the revision it was added under.
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
)

from tandem.store.base import BLOB_OID, metadata

datasets = Table(
    "datasets",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_pk", Integer, ForeignKey("projects.pk"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(250), nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON object of str -> str
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    UniqueConstraint("project_pk", "name", name="uq_datasets_project_name"),
)

dataset_contracts = Table(
    "dataset_contracts",
    metadata,
    Column("dataset_pk", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("text", Text, nullable=False),  # the ODCS YAML as given
    Column("digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    PrimaryKeyConstraint("dataset_pk", "revision"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset_pk", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # BLAKE3 over the sorted manifest
    Column("format", String(16), nullable=True),  # csv, parquet, jsonl; null: not a table
    Column("rows", BigInteger, nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("source", Text, nullable=False, default=""),  # where it was added from
    Column("message", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("contract_revision", Integer, nullable=True),
    Column("schema", Text, nullable=False, default="[]"),  # JSON: [{name, type}]
    Column("profile", Text, nullable=True),  # JSON, see tandem.data.profile
    Column("pii", Text, nullable=True),  # JSON list of findings, see tandem.data.pii
    UniqueConstraint("dataset_pk", "version", name="uq_dataset_versions_version"),
    Index("ix_dataset_versions_digest", "dataset_pk", "digest"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column("version_pk", Integer, nullable=False),
    Column("path", String(1024), nullable=False),
    Column("oid", String(64), nullable=False, info=BLOB_OID),
    Column("size", BigInteger, nullable=False),
    PrimaryKeyConstraint("version_pk", "path"),
    Index("ix_dataset_files_oid", "oid"),
)

dataset_validations = Table(
    "dataset_validations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("version_pk", Integer, nullable=False),
    Column("contract_revision", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("blocking_failed", Boolean, nullable=False),
    Column("result", Text, nullable=False),  # JSON, see tandem.data.validate
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index("ix_dataset_validations_version", "version_pk", "pk"),
)

dataset_columns = Table(
    "dataset_columns",
    metadata,
    Column("dataset_pk", Integer, nullable=False),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(250), nullable=False, default=""),
    PrimaryKeyConstraint("dataset_pk", "name"),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_pk", Integer, nullable=False),
    Column("version_pk", Integer, nullable=False),
    Column("role", String(32), nullable=False),  # train, test, input, output, ...
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_pk", "version_pk", "role"),
    Index("ix_run_datasets_version", "version_pk"),
)

# Blobs uploaded into a project for a version not yet created. Creating a version from a manifest
# may name only content its project may read: content already in a dataset or artifact the
# caller can read, or content uploaded into this project (possession proved by the upload).
dataset_uploads = Table(
    "dataset_uploads",
    metadata,
    Column("project_pk", Integer, nullable=False),
    Column("oid", String(64), nullable=False),
    Column("uploaded_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_pk", "oid"),
)
