"""LineageService: the graph around any dataset version, run, artifact, model version or
evaluation, upstream and downstream, showing only what the caller may read.

Domain services add edges inside their own transactions (`LineageStore.link`): the data service
when a run uses or produces a dataset version, the registry when a run's model is registered,
evaluations when a model version is measured on a dataset version, pipelines when one stage
reads another's output.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import Connection, bindparam, select

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paths import check_artifact_path
from tandem.core.refs import parse_dataset_ref, parse_model_ref, parse_run_ref
from tandem.data.store import DatasetStore
from tandem.data.tables import dataset_versions, datasets
from tandem.errors import InvalidInput, NotFound
from tandem.evaluation.tables import evaluations
from tandem.lineage.models import (
    DEFAULT_DEPTH,
    MAX_DEPTH,
    MAX_NODES,
    Direction,
    LineageEdge,
    LineageGraph,
    LineageNode,
    LinkCreate,
    NodeKind,
    Relation,
    split_ref,
)
from tandem.lineage.store import Entity, LineageStore, NodeRow
from tandem.projects.store import ProjectStore
from tandem.projects.tables import projects
from tandem.registry.store import RegistryStore
from tandem.registry.tables import model_versions, registered_models
from tandem.store.db import Database
from tandem.tracking.store import RunStore
from tandem.tracking.tables import artifacts, runs

READ_ACTION = {
    NodeKind.RUN: Action.RUN_READ,
    NodeKind.ARTIFACT: Action.RUN_READ,
    NodeKind.DATASET_VERSION: Action.DATA_READ,
    NodeKind.MODEL_VERSION: Action.MODEL_READ,
    NodeKind.EVALUATION: Action.MODEL_READ,
}


class LineageService:
    def __init__(
        self,
        db: Database,
        store: LineageStore,
        project_store: ProjectStore,
        run_store: RunStore,
        dataset_store: DatasetStore,
        registry_store: RegistryStore,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.project_store = project_store
        self.runs = run_store
        self.datasets = dataset_store
        self.registry = registry_store
        self.auth = auth
        self.audit = audit

    # -- references -------------------------------------------------------------------------

    def resolve(
        self, conn: Connection, principal: Principal, ref: str, project: str | None
    ) -> tuple[Entity, str]:
        """The entity `ref` names, and its project, if the caller may read it.

        Raises:
            InvalidInput: not a reference of any form.
            NotFound: no such entity, or one the caller may not read.
        """
        kind, ref_project, rest = split_ref(ref, project)
        if kind in (NodeKind.RUN, NodeKind.ARTIFACT):
            run_id, _, path = rest.partition("/")
            row = self.runs.find_row(conn, parse_run_ref(run_id).run_id)
            if row is None or (ref_project is not None and row.project != ref_project):
                raise NotFound(f"run {run_id} does not exist")
            self.auth.require(principal, Action.RUN_READ, row.project, hidden=f"run {run_id}")
            if kind is NodeKind.RUN:
                return Entity(kind, row.pk, row.project_pk), row.project
            path = check_artifact_path(path)
            found = conn.execute(
                select(artifacts.c.path).where(
                    artifacts.c.run_pk == row.pk, artifacts.c.path == path
                )
            ).first()
            if found is None:
                raise NotFound(f"run {row.id} has no artifact {path!r}")
            return Entity(kind, row.pk, row.project_pk, path), row.project
        if ref_project is None:
            raise InvalidInput(f"{ref!r} names no project: write PROJECT/{ref} or pass a project")
        self.auth.require(principal, READ_ACTION[kind], ref_project)
        project_pk = self.project_store.get_pk(conn, ref_project)
        if kind is NodeKind.DATASET_VERSION:
            parsed = parse_dataset_ref(rest, ref_project)
            dataset = self.datasets.find(conn, project_pk, parsed.name)
            version = (
                self.datasets.resolve(conn, dataset.pk, parsed.version)
                if dataset is not None
                else None
            )
            if version is None:
                raise NotFound(f"dataset version {ref_project}/{rest} does not exist")
            return Entity(kind, version.pk, project_pk), ref_project
        if kind is NodeKind.MODEL_VERSION:
            model_ref = parse_model_ref(rest, ref_project)
            model = self.registry.find(conn, project_pk, model_ref.name)
            row = self.registry.resolve(conn, model.pk, model_ref) if model is not None else None
            if row is None:
                raise NotFound(f"model {ref_project}/{rest} does not exist")
            return Entity(kind, row.pk, project_pk), ref_project
        pk = conn.execute(
            select(evaluations.c.pk).where(
                evaluations.c.id == rest.lower(), evaluations.c.project_pk == project_pk
            )
        ).scalar()
        if pk is None:
            raise NotFound(f"evaluation {rest} does not exist in project {ref_project!r}")
        return Entity(kind, int(pk), project_pk), ref_project

    # -- writing ----------------------------------------------------------------------------

    def link(self, principal: Principal, project: str, body: LinkCreate) -> LineageEdge:
        """Record that `body.src` was consumed by (or produced) `body.dst`. The caller must be
        allowed to write the run at the run's end of the edge and to read the other end.

        Raises:
            InvalidInput: a relation that does not fit the two kinds, or an edge to itself.
            NotFound: either end does not exist or is hidden from the caller.
            PermissionDenied: may not write the run.
        """
        self.auth.require(principal, Action.RUN_WRITE, project)  # before reading the refs
        with self.db.write() as conn:
            src, src_project = self.resolve(conn, principal, body.src, project)
            dst, dst_project = self.resolve(conn, principal, body.dst, project)
            if src == dst:
                raise InvalidInput("an entity cannot be linked to itself")
            if body.relation is Relation.CONSUMED_BY and dst.kind is NodeKind.RUN:
                run_project = dst_project
            elif body.relation is Relation.PRODUCED and src.kind is NodeKind.RUN:
                run_project = src_project
            else:
                raise InvalidInput(
                    "a link is `consumed-by` (anything -> run) or `produced` (run -> anything)"
                )
            self.auth.require(principal, Action.RUN_WRITE, run_project)
            now = now_ms()
            src_pk = self.store.node(conn, src)
            dst_pk = self.store.node(conn, dst)
            for entity, pk in ((src, src_pk), (dst, dst_pk)):
                if entity.kind is NodeKind.ARTIFACT:  # an artifact is always its run's product
                    run = self.store.node(
                        conn, Entity(NodeKind.RUN, entity.entity_pk, entity.project_pk)
                    )
                    self.store.link_nodes(conn, run, pk, Relation.PRODUCED, now)
            self.store.link_nodes(conn, src_pk, dst_pk, body.relation, now)
        return LineageEdge(src=src_pk, dst=dst_pk, relation=body.relation.value)

    # -- reading ----------------------------------------------------------------------------

    def graph(
        self,
        principal: Principal,
        project: str | None,
        ref: str,
        direction: Direction = Direction.BOTH,
        depth: int = DEFAULT_DEPTH,
    ) -> LineageGraph:
        """The entities within `depth` links of `ref`, upstream, downstream or both.

        Entities the caller may not read are left out, with whatever is reachable only
        through them.

        Raises:
            InvalidInput: a bad reference or depth.
            NotFound: `ref` does not exist or is hidden from the caller.
        """
        if not 1 <= depth <= MAX_DEPTH:
            raise InvalidInput(f"depth must be between 1 and {MAX_DEPTH}, not {depth}")
        with self.db.read() as conn:
            entity, _ = self.resolve(conn, principal, ref, project)
            root = self.store.find(conn, entity.kind, entity.entity_pk, entity.path)
            if root is None:  # nothing links to it yet: a graph of one
                return self._single(conn, entity)
            depths: dict[int, int] = {root: 0}
            if direction is not Direction.DOWNSTREAM:
                for pk, d in self.store.walk(conn, root, upstream=True, depth=depth).items():
                    depths.setdefault(pk, -d)
            if direction is not Direction.UPSTREAM:
                for pk, d in self.store.walk(conn, root, upstream=False, depth=depth).items():
                    depths.setdefault(pk, d)
            truncated = len(depths) > MAX_NODES
            if truncated:
                keep = sorted(depths, key=lambda pk: abs(depths[pk]))[:MAX_NODES]
                depths = {pk: depths[pk] for pk in keep}
            rows = {row.pk: row for row in self.store.nodes(conn, depths)}
            names = dict(self.project_store.all_names(conn))
            visible = {
                pk
                for pk, row in rows.items()
                if principal.may(READ_ACTION[NodeKind(row.kind)], names.get(row.project_pk))
            }
            edges = [e for e in self.store.edges(conn, visible) if e[0] != e[1]]
            shown = _reachable(root, edges, direction)
            labels = self._labels(conn, [rows[pk] for pk in shown])
        nodes = [
            LineageNode(
                id=pk,
                kind=NodeKind(rows[pk].kind),
                project=names.get(rows[pk].project_pk, "?"),
                depth=depths[pk],
                **labels[pk],
            )
            for pk in sorted(shown, key=lambda pk: (depths[pk], pk))
        ]
        return LineageGraph(
            root=root,
            nodes=nodes,
            edges=[
                LineageEdge(src=s, dst=d, relation=r)
                for s, d, r in edges
                if s in shown and d in shown
            ],
            truncated=truncated,
        )

    def _single(self, conn: Connection, entity: Entity) -> LineageGraph:
        row = NodeRow(0, entity.kind.value, entity.entity_pk, entity.path, entity.project_pk)
        names = dict(self.project_store.all_names(conn))
        label = self._labels(conn, [row])[0]
        node = LineageNode(
            id=0, kind=entity.kind, project=names.get(entity.project_pk, "?"), depth=0, **label
        )
        return LineageGraph(root=0, nodes=[node], edges=[])

    def _labels(self, conn: Connection, rows: list[NodeRow]) -> dict[int, dict[str, Any]]:
        """ref, label and status of each node, read from its domain's tables in one query a kind."""
        by_kind: dict[str, list[NodeRow]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        out: dict[int, dict[str, Any]] = {}
        for kind, group in by_kind.items():
            keys = sorted({row.entity_pk for row in group})
            found = _LABEL_QUERIES[NodeKind(kind)](conn, keys)
            for row in group:
                info = found.get(row.entity_pk)
                if info is None:  # the entity was purged after the link was made
                    out[row.pk] = {
                        "ref": f"{kind}:{row.entity_pk}",
                        "label": "(purged)",
                        "status": "purged",
                    }
                elif row.kind == NodeKind.ARTIFACT:
                    out[row.pk] = {
                        "ref": f"{info['ref']}/artifacts/{row.path}",
                        "label": row.path,
                        "status": None,
                    }
                else:
                    out[row.pk] = info
        return out

    # -- gc: purging, inside gc's transaction (no permission check: gc has checked) ----------

    def purge_orphans(self, conn: Connection) -> None:
        """Forget lineage nodes whose entity is gone (after gc's purges)."""
        self.store.purge_orphans(conn)


def _reachable(root: int, edges: list[tuple[int, int, str]], direction: Direction) -> set[int]:
    """The nodes still connected to `root` once hidden ones are gone, walking only the ways
    the graph was asked for."""
    forward: dict[int, list[int]] = {}
    backward: dict[int, list[int]] = {}
    for src, dst, _ in edges:
        forward.setdefault(src, []).append(dst)
        backward.setdefault(dst, []).append(src)
    seen = {root}
    for adjacency, wanted in ((backward, Direction.UPSTREAM), (forward, Direction.DOWNSTREAM)):
        if direction not in (wanted, Direction.BOTH):
            continue
        queue, visited = deque([root]), {root}
        while queue:
            for nxt in adjacency.get(queue.popleft(), ()):
                if nxt not in visited:
                    visited.add(nxt)
                    queue.append(nxt)
        seen |= visited
    return seen


def _run_labels(conn: Connection, keys: list[int]) -> dict[int, dict[str, Any]]:
    query = (
        select(runs.c.pk, runs.c.id, runs.c.name, runs.c.status, projects.c.name)
        .join(projects, projects.c.pk == runs.c.project_pk)
        .where(runs.c.pk.in_(bindparam("keys", expanding=True)))
    )
    return {
        pk: {"ref": f"{project}/runs/{run_id}", "label": name or run_id[:8], "status": status}
        for pk, run_id, name, status, project in conn.execute(query, {"keys": keys})
    }


def _dataset_labels(conn: Connection, keys: list[int]) -> dict[int, dict[str, Any]]:
    query = (
        select(dataset_versions.c.pk, datasets.c.name, dataset_versions.c.version, projects.c.name)
        .join(datasets, datasets.c.pk == dataset_versions.c.dataset_pk)
        .join(projects, projects.c.pk == datasets.c.project_pk)
        .where(dataset_versions.c.pk.in_(bindparam("keys", expanding=True)))
    )
    return {
        pk: {
            "ref": f"{project}/datasets/{name}@v{version}",
            "label": f"{name}@v{version}",
            "status": None,
        }
        for pk, name, version, project in conn.execute(query, {"keys": keys})
    }


def _model_labels(conn: Connection, keys: list[int]) -> dict[int, dict[str, Any]]:
    query = (
        select(
            model_versions.c.pk,
            registered_models.c.name,
            model_versions.c.version,
            model_versions.c.stage,
            projects.c.name,
        )
        .join(registered_models, registered_models.c.pk == model_versions.c.model_pk)
        .join(projects, projects.c.pk == registered_models.c.project_pk)
        .where(model_versions.c.pk.in_(bindparam("keys", expanding=True)))
    )
    return {
        pk: {
            "ref": f"{project}/models/{name}@{version}",
            "label": f"{name}@{version}",
            "status": stage,
        }
        for pk, name, version, stage, project in conn.execute(query, {"keys": keys})
    }


def _evaluation_labels(conn: Connection, keys: list[int]) -> dict[int, dict[str, Any]]:
    query = (
        select(evaluations.c.pk, evaluations.c.id, evaluations.c.task, projects.c.name)
        .join(projects, projects.c.pk == evaluations.c.project_pk)
        .where(evaluations.c.pk.in_(bindparam("keys", expanding=True)))
    )
    return {
        pk: {
            "ref": f"{project}/evaluations/{eid}",
            "label": f"evaluation {eid[:8]} ({task})",
            "status": None,
        }
        for pk, eid, task, project in conn.execute(query, {"keys": keys})
    }


_LABEL_QUERIES = {
    NodeKind.RUN: _run_labels,
    NodeKind.ARTIFACT: _run_labels,
    NodeKind.DATASET_VERSION: _dataset_labels,
    NodeKind.MODEL_VERSION: _model_labels,
    NodeKind.EVALUATION: _evaluation_labels,
}
