"""LineageService: the graph around any dataset version, run, artifact, model version or
evaluation, upstream and downstream, showing only what the caller may read.

Lineage is below the domains whose entities it links and imports none of them. They record
edges inside their own transactions through `LineageLinks` (the data service when a run uses
or produces a dataset version, the registry when a run's model is registered, evaluations when
a model version is measured on a dataset version); pipelines record theirs through the API
(`link`). To resolve a reference and to label a node, lineage asks the domain that owns it
through the small read model each publishes on its service (`RunSource`, `DatasetSource`,
`ModelSource`, `EvaluationSource` below), handed over by the container.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paths import check_artifact_path
from tandem.core.refs import ModelRef, parse_dataset_ref, parse_model_ref, parse_run_ref
from tandem.errors import InvalidInput, NotFound
from tandem.lineage.models import (
    DEFAULT_DEPTH,
    MAX_DEPTH,
    MAX_NODES,
    Direction,
    Entity,
    LineageEdge,
    LineageGraph,
    LineageNode,
    LinkCreate,
    NodeKind,
    NodeLabel,
    Relation,
    split_ref,
)
from tandem.lineage.store import LineageStore, NodeRow
from tandem.projects.service import ProjectService
from tandem.store.db import Database

# How a domain describes its entities on the graph, by pk: (project pk, ref inside the
# project, label, status); a plain tuple, so the domains need not import lineage to publish it.
Labels = Mapping[int, tuple[int, str, str, str | None]]


class _Labelled(Protocol):
    def lineage_labels(self, conn: Connection, pks: Sequence[int]) -> Labels:
        """The entities `pks` that still exist, as the graph shows them (see `NodeLabel`)."""
        ...


class RunSource(_Labelled, Protocol):
    """What lineage reads about runs and their artifacts (`TrackingService`)."""

    def run_in(self, conn: Connection, run_id: str) -> Any:
        """The run's row (pk, id, project, project_pk), or None."""
        ...

    def artifact_in(self, conn: Connection, run_pk: int, path: str) -> Any:
        """The run's artifact at `path`, or None."""
        ...


class DatasetSource(_Labelled, Protocol):
    """What lineage reads about dataset versions (`DataService`)."""

    def dataset_version_in(
        self, conn: Connection, project_pk: int, name: str, version: int | None
    ) -> Any:
        """The version's row (pk, ...), or None."""
        ...


class ModelSource(_Labelled, Protocol):
    """What lineage reads about model versions (`RegistryService`)."""

    def model_version_in(self, conn: Connection, project_pk: int, ref: ModelRef) -> Any:
        """The version's row (pk, ...), or None."""
        ...


class EvaluationSource(_Labelled, Protocol):
    """What lineage reads about evaluations (`EvaluationService`)."""

    def evaluation_pk_in(self, conn: Connection, project_pk: int, eval_id: str) -> int | None: ...


class IncidentSource(_Labelled, Protocol):
    """What lineage reads about incidents and postmortems (`IncidentService`), handed over by
    the container (`LineageService.use_incidents`): lineage imports no domain."""

    def incident_pk_in(
        self, conn: Connection, project_pk: int, kind: str, number: int
    ) -> int | None:
        """The pk of incident `number` (kind `incident`) or of its postmortem (`postmortem`)."""
        ...


class DeploymentSource(_Labelled, Protocol):
    """What lineage reads about endpoints (`DeploymentService`, labelled by endpoint pk) and
    their deployments (`DeploymentNodes`, labelled by deployment pk), handed over by the
    container (`LineageService.use_deployments`)."""

    def endpoint_pk_in(self, conn: Connection, project_pk: int, name: str) -> int | None:
        """The pk of endpoint `name` of the project, or None."""
        ...

    def deployment_pk_in(self, conn: Connection, project_pk: int, deployment_id: str) -> int | None:
        """The pk of deployment `deployment_id` on one of the project's endpoints, or None."""
        ...


class ActionSource(_Labelled, Protocol):
    """What lineage reads about action items (the registers' `ActionNodes`)."""

    def action_pk_in(self, conn: Connection, project_pk: int, number: int) -> int | None:
        """The pk of the project's action item `number`, or None."""
        ...


class LineageLinks:
    """How another domain writes the graph: edges between its entities, recorded in the
    caller's transaction (the caller has checked its permissions)."""

    def __init__(self, store: LineageStore) -> None:
        self.store = store

    def link(
        self, conn: Connection, src: Entity, dst: Entity, relation: Relation, now: int
    ) -> None:
        """Add the edge src -> dst (and their nodes); adding it again changes nothing."""
        self.store.link(conn, src, dst, relation, now)

    def link_run_dataset(
        self, conn: Connection, run: tuple[int, int], version: tuple[int, int], *,
        output: bool, now: int,
    ) -> None:  # fmt: skip
        """Record that a run used a dataset version (version -> run, consumed by) or, with
        `output`, produced it (run -> version). `run` and `version` are (pk, project pk)."""
        run_node = Entity(NodeKind.RUN, run[0], run[1])
        version_node = Entity(NodeKind.DATASET_VERSION, version[0], version[1])
        if output:
            self.store.link(conn, run_node, version_node, Relation.PRODUCED, now)
        else:
            self.store.link(conn, version_node, run_node, Relation.CONSUMED_BY, now)

    def forget(self, conn: Connection, entity: Entity) -> None:
        """Remove `entity`'s node and its edges (the entity was deleted)."""
        self.store.forget(conn, entity)

    def purge_orphans(self, conn: Connection) -> None:
        """Forget the nodes of entities gc has purged (at the end of a purge)."""
        self.store.purge_orphans(conn)


READ_ACTION = {
    NodeKind.RUN: Action.RUN_READ,
    NodeKind.ARTIFACT: Action.RUN_READ,
    NodeKind.DATASET_VERSION: Action.DATA_READ,
    NodeKind.MODEL_VERSION: Action.MODEL_READ,
    NodeKind.EVALUATION: Action.MODEL_READ,
    NodeKind.INCIDENT: Action.MONITOR_READ,
    NodeKind.POSTMORTEM: Action.MONITOR_READ,
    NodeKind.ENDPOINT: Action.DEPLOYMENT_READ,
    NodeKind.DEPLOYMENT: Action.DEPLOYMENT_READ,
    NodeKind.ACTION_ITEM: Action.PROJECT_READ,
}


class LineageService:
    def __init__(
        self,
        db: Database,
        store: LineageStore,
        projects: ProjectService,
        auth: Authorizer,
        audit: AuditLog,
        *,
        runs: RunSource,
        datasets: DatasetSource,
        models: ModelSource,
        evaluations: EvaluationSource,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.runs = runs
        self.datasets = datasets
        self.models = models
        self.evaluations = evaluations
        self.auth = auth
        self.audit = audit
        self._sources: dict[NodeKind, _Labelled] = {
            NodeKind.RUN: runs,
            NodeKind.ARTIFACT: runs,
            NodeKind.DATASET_VERSION: datasets,
            NodeKind.MODEL_VERSION: models,
            NodeKind.EVALUATION: evaluations,
        }
        self.incidents: IncidentSource | None = None
        self.deployments: DeploymentSource | None = None
        self.actions: ActionSource | None = None

    def use_actions(self, source: ActionSource) -> None:
        """Action items (the registers') as nodes of the graph (wired by the container)."""
        self.actions = source
        self._sources[NodeKind.ACTION_ITEM] = source

    def use_deployments(self, source: DeploymentSource, deployments: _Labelled) -> None:
        """Endpoints (`source`) and their deployments (`deployments`, labelled by deployment
        pk) as nodes of the graph (wired by the container)."""
        self.deployments = source
        self._sources[NodeKind.ENDPOINT] = source
        self._sources[NodeKind.DEPLOYMENT] = deployments

    def use_incidents(self, source: IncidentSource, postmortems: _Labelled) -> None:
        """Incidents (`source`) and their postmortems (`postmortems`, labelled by postmortem
        pk) as nodes of the graph (wired by the container)."""
        self.incidents = source
        self._sources[NodeKind.INCIDENT] = source
        self._sources[NodeKind.POSTMORTEM] = postmortems

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
            row = self.runs.run_in(conn, parse_run_ref(run_id).run_id)
            if row is None or (ref_project is not None and row.project != ref_project):
                raise NotFound(f"run {run_id} does not exist")
            self.auth.require(principal, Action.RUN_READ, row.project, hidden=f"run {run_id}")
            if kind is NodeKind.RUN:
                return Entity(kind, row.pk, row.project_pk), row.project
            path = check_artifact_path(path)
            if self.runs.artifact_in(conn, row.pk, path) is None:
                raise NotFound(f"run {row.id} has no artifact {path!r}")
            return Entity(kind, row.pk, row.project_pk, path), row.project
        if ref_project is None:
            raise InvalidInput(f"{ref!r} names no project: write PROJECT/{ref} or pass a project")
        project_pk = self.projects.access(conn, principal, ref_project, READ_ACTION[kind])
        if kind is NodeKind.DATASET_VERSION:
            parsed = parse_dataset_ref(rest, ref_project)
            version = self.datasets.dataset_version_in(
                conn, project_pk, parsed.name, parsed.version
            )
            if version is None:
                raise NotFound(f"dataset version {ref_project}/{rest} does not exist")
            return Entity(kind, version.pk, project_pk), ref_project
        if kind is NodeKind.MODEL_VERSION:
            model_ref = parse_model_ref(rest, ref_project)
            row = self.models.model_version_in(conn, project_pk, model_ref)
            if row is None:
                raise NotFound(f"model {ref_project}/{rest} does not exist")
            return Entity(kind, row.pk, project_pk), ref_project
        if kind in (NodeKind.INCIDENT, NodeKind.POSTMORTEM):
            found = None
            if self.incidents is not None and rest.isdigit():
                found = self.incidents.incident_pk_in(conn, project_pk, kind.value, int(rest))
            if found is None:
                raise NotFound(f"{kind.value} {rest} does not exist in project {ref_project!r}")
            return Entity(kind, found, project_pk), ref_project
        if kind is NodeKind.ACTION_ITEM:
            number = rest.removeprefix("A")
            found = None
            if self.actions is not None and number.isdigit():
                found = self.actions.action_pk_in(conn, project_pk, int(number))
            if found is None:
                raise NotFound(f"action item {rest} does not exist in project {ref_project!r}")
            return Entity(kind, found, project_pk), ref_project
        if kind in (NodeKind.ENDPOINT, NodeKind.DEPLOYMENT):
            found = None
            if self.deployments is not None:
                find = (
                    self.deployments.endpoint_pk_in
                    if kind is NodeKind.ENDPOINT
                    else self.deployments.deployment_pk_in
                )
                found = find(conn, project_pk, rest)
            if found is None:
                raise NotFound(f"{kind.value} {rest} does not exist in project {ref_project!r}")
            return Entity(kind, found, project_pk), ref_project
        pk = self.evaluations.evaluation_pk_in(conn, project_pk, rest.lower())
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
            names = self.projects.live_names_in(conn)
            visible = {
                pk
                for pk, row in rows.items()
                if principal.may(READ_ACTION[NodeKind(row.kind)], names.get(row.project_pk))
            }
            edges = [e for e in self.store.edges(conn, visible) if e[0] != e[1]]
            shown = _reachable(root, edges, direction)
            labels = self._labels(conn, [rows[pk] for pk in shown], names)
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
        names = self.projects.live_names_in(conn)
        label = self._labels(conn, [row], names)[0]
        node = LineageNode(
            id=0, kind=entity.kind, project=names.get(entity.project_pk, "?"), depth=0, **label
        )
        return LineageGraph(root=0, nodes=[node], edges=[])

    def _labels(
        self, conn: Connection, rows: list[NodeRow], names: dict[int, str]
    ) -> dict[int, dict[str, Any]]:
        """ref, label and status of each node, from its domain's read model (one query a
        kind); `names`: the live projects' names (others, deleted ones, are read if needed)."""
        by_kind: dict[str, list[NodeRow]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        found: dict[str, Labels] = {}
        for kind, group in by_kind.items():
            keys = sorted({row.entity_pk for row in group})
            found[kind] = self._sources[NodeKind(kind)].lineage_labels(conn, keys)
        wanted = {info[0] for infos in found.values() for info in infos.values()}
        if not wanted <= names.keys():
            names = {**names, **self.projects.names(conn, wanted - names.keys())}
        out: dict[int, dict[str, Any]] = {}
        for row in rows:
            info = found[row.kind].get(row.entity_pk)
            project = names.get(info[0]) if info is not None else None
            if info is None or project is None:  # the entity was purged after the link was made
                out[row.pk] = {
                    "ref": f"{row.kind}:{row.entity_pk}",
                    "label": "(purged)",
                    "status": "purged",
                }
            elif row.kind == NodeKind.ARTIFACT:
                out[row.pk] = {
                    "ref": f"{project}/{info[1]}/artifacts/{row.path}",
                    "label": row.path,
                    "status": None,
                }
            else:
                label = NodeLabel(*info)
                out[row.pk] = {
                    "ref": f"{project}/{label.ref}",
                    "label": label.label,
                    "status": label.status,
                }
        return out


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
