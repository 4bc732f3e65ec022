"""SQL for the lineage graph: adding nodes and edges inside a domain's own transaction, and
walking the graph with one recursive query per direction."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, column, delete, select, table, text

from tandem.lineage.models import Entity, NodeKind
from tandem.lineage.tables import ENTITY_KEYS, lineage_edges, lineage_nodes

__all__ = ["Entity", "LineageStore", "NodeRow"]


class NodeRow(NamedTuple):
    pk: int
    kind: str
    entity_pk: int
    path: str
    project_pk: int


# UNION (not UNION ALL) keeps a diamond from being walked once per path; a node reached at
# several depths appears once per depth, and the caller keeps the smallest.
_WALK = """
WITH RECURSIVE walk(pk, depth) AS (
    SELECT CAST(:start AS INTEGER), 0
    UNION
    SELECT e.{next}, w.depth + 1 FROM lineage_edges e JOIN walk w ON e.{this} = w.pk
    WHERE w.depth < :depth
)
SELECT pk, MIN(depth) FROM walk GROUP BY pk
"""
DOWNSTREAM_SQL = text(_WALK.format(this="src", next="dst"))
UPSTREAM_SQL = text(_WALK.format(this="dst", next="src"))

_NODES_SQL = select(
    lineage_nodes.c.pk,
    lineage_nodes.c.kind,
    lineage_nodes.c.entity_pk,
    lineage_nodes.c.path,
    lineage_nodes.c.project_pk,
).where(lineage_nodes.c.pk.in_(bindparam("pks", expanding=True)))

_EDGES_SQL = select(lineage_edges.c.src, lineage_edges.c.dst, lineage_edges.c.relation).where(
    lineage_edges.c.src.in_(bindparam("pks", expanding=True)),
    lineage_edges.c.dst.in_(bindparam("pks2", expanding=True)),
)


class LineageStore:
    """Stateless: every method works in the caller's transaction."""

    def node(self, conn: Connection, entity: Entity) -> int:
        """The node for `entity`, added if it has none yet."""
        kind, entity_pk, project_pk, path = entity
        conn.execute(
            text(
                "INSERT INTO lineage_nodes (kind, entity_pk, path, project_pk) "
                "VALUES (:kind, :entity_pk, :path, :project_pk) "
                "ON CONFLICT (kind, entity_pk, path) DO NOTHING"
            ),
            {"kind": kind.value, "entity_pk": entity_pk, "path": path, "project_pk": project_pk},
        )
        return int(self.find(conn, kind, entity_pk, path) or 0)

    def find(self, conn: Connection, kind: NodeKind, entity_pk: int, path: str = "") -> int | None:
        pk = conn.execute(
            select(lineage_nodes.c.pk).where(
                lineage_nodes.c.kind == kind.value,
                lineage_nodes.c.entity_pk == entity_pk,
                lineage_nodes.c.path == path,
            )
        ).scalar()
        return int(pk) if pk is not None else None

    def link(self, conn: Connection, src: Entity, dst: Entity, relation: str, now: int) -> None:
        """Add the edge src -> dst (and their nodes); adding it again changes nothing."""
        self.link_nodes(conn, self.node(conn, src), self.node(conn, dst), relation, now)

    def link_nodes(self, conn: Connection, src: int, dst: int, relation: str, now: int) -> None:
        conn.execute(
            text(
                "INSERT INTO lineage_edges (src, dst, relation, created_at) "
                "VALUES (:src, :dst, :relation, :now) ON CONFLICT (src, dst, relation) DO NOTHING"
            ),
            {"src": src, "dst": dst, "relation": relation, "now": now},
        )

    def walk(self, conn: Connection, start: int, *, upstream: bool, depth: int) -> dict[int, int]:
        """Every node within `depth` links of `start` in one direction: node -> distance."""
        sql = UPSTREAM_SQL if upstream else DOWNSTREAM_SQL
        return {int(pk): int(d) for pk, d in conn.execute(sql, {"start": start, "depth": depth})}

    def nodes(self, conn: Connection, pks: Collection[int]) -> list[NodeRow]:
        if not pks:
            return []
        return [NodeRow(*row) for row in conn.execute(_NODES_SQL, {"pks": list(pks)})]

    def edges(self, conn: Connection, pks: Collection[int]) -> list[tuple[int, int, str]]:
        """The edges between nodes of `pks`."""
        if not pks:
            return []
        keys = list(pks)
        return [
            (int(s), int(d), r) for s, d, r in conn.execute(_EDGES_SQL, {"pks": keys, "pks2": keys})
        ]

    def forget(self, conn: Connection, entity: Entity) -> None:
        """Remove `entity`'s node and every edge to or from it (the entity was deleted)."""
        node = self.find(conn, entity.kind, entity.entity_pk, entity.path)
        if node is None:
            return
        conn.execute(
            delete(lineage_edges).where(
                (lineage_edges.c.src == node) | (lineage_edges.c.dst == node)
            )
        )
        conn.execute(delete(lineage_nodes).where(lineage_nodes.c.pk == node))

    def purge_orphans(self, conn: Connection) -> None:
        """Forget the nodes (and edges) of entities gc has purged: run at the end of a purge,
        so no domain has to know which of its rows the graph points at."""
        for kind, key in ENTITY_KEYS.items():
            owner, pk = key.split(".")
            conn.execute(
                delete(lineage_nodes).where(
                    lineage_nodes.c.kind == kind,
                    lineage_nodes.c.entity_pk.not_in(select(table(owner, column(pk)).c[pk])),
                )
            )
        alive = select(lineage_nodes.c.pk)
        conn.execute(delete(lineage_edges).where(lineage_edges.c.src.not_in(alive)))
        conn.execute(delete(lineage_edges).where(lineage_edges.c.dst.not_in(alive)))
