"""The lineage graph: one node per entity that takes part in a link, one row per edge.

Nodes point at their entity by (kind, entity_pk[, path]) instead of each domain's table, so one
recursive query walks every kind of link; edges run from input to output (a dataset version to
the run that read it, a run to the artifact it produced).

`ENTITY_KEYS` names, by string as every cross-domain foreign key is written, the column each
kind's `entity_pk` points at: gc forgets the nodes whose entity is gone (`purge_orphans`), the
ON DELETE CASCADE a polymorphic reference cannot declare."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from tandem.store.base import metadata

lineage_nodes = Table(
    "lineage_nodes",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # see models.NodeKind
    Column("entity_pk", Integer, nullable=False),  # runs.pk, dataset_versions.pk, ...
    Column("path", String(1024), nullable=False, default=""),  # an artifact's path in its run
    Column("project_pk", Integer, nullable=False),
    Index("ix_lineage_nodes_entity", "kind", "entity_pk", "path", unique=True),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("src", Integer, nullable=False),
    Column("dst", Integer, nullable=False),
    Column("relation", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("src", "dst", "relation"),
    Index("ix_lineage_edges_dst", "dst", "src"),
    sqlite_with_rowid=False,
)

# kind (models.NodeKind value) -> "table.column" its entity_pk refers to
ENTITY_KEYS = {
    "run": "runs.pk",
    "artifact": "runs.pk",
    "dataset-version": "dataset_versions.pk",
    "model-version": "model_versions.pk",
    "evaluation": "evaluations.pk",
    "incident": "incidents.pk",
    "postmortem": "postmortems.pk",
    "endpoint": "endpoints.pk",
    "deployment": "endpoint_deployments.pk",
    "action-item": "action_items.pk",
}
