"""The lineage graph end to end: edges recorded by the data service, the registry, evaluations
and clients; walked upstream and downstream through the SDK (embedded and live server) and the
CLI; hidden projects left out; bad references refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tandem.core.auth import Principal, Role
from tandem.errors import InvalidInput, NotFound, PermissionDenied
from tandem.gc.models import GcRequest
from tandem.lineage.models import LinkCreate, NodeKind, Relation
from tandem.lineage.render import dot, text_tree
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services
from tandem.tracking.models import RunCreate


def _chain(client: Client, tmp_path: Path) -> tuple[str, str]:
    """customers@v1 -> prep -> out/features.csv -> train -> model churn@1; returns run ids."""
    client.projects.create("churn")
    source = tmp_path / "customers.csv"
    source.write_text("id,x,y\n1,0.5,0\n2,1.5,1\n3,2.5,1\n")
    client.data.add("customers", source, project="churn")
    with client.start_run(project="churn", name="prep") as prep:
        prep.use_dataset("customers@v1")
        prep.log_text("x\n1\n", "out/features.csv")
    with client.start_run(project="churn", name="train") as train:
        x = np.array([[0.5], [1.5], [2.5], [0.1]])
        train.log_model(LogisticRegression().fit(x, [0, 1, 1, 0]), "churn", example=x[:2])
    client.lineage.link(f"runs/{prep.id}/artifacts/out/features.csv", train.id, project="churn")
    return prep.id, train.id


def test_a_chain_reads_both_ways(client: Client, tmp_path: Path) -> None:
    prep, train = _chain(client, tmp_path)
    down = client.lineage.graph("churn/datasets/customers@v1", direction="downstream")
    refs = [(n.kind, n.ref, n.depth) for n in down.nodes]
    assert refs == [
        (NodeKind.DATASET_VERSION, "churn/datasets/customers@v1", 0),
        (NodeKind.RUN, f"churn/runs/{prep}", 1),
        (NodeKind.ARTIFACT, f"churn/runs/{prep}/artifacts/out/features.csv", 2),
        (NodeKind.RUN, f"churn/runs/{train}", 3),
        (NodeKind.MODEL_VERSION, "churn/models/churn@1", 4),
    ]
    ids = {n.ref: n.id for n in down.nodes}
    edges = {(e.src, e.dst, e.relation) for e in down.edges}
    assert (ids["churn/datasets/customers@v1"], ids[f"churn/runs/{prep}"], "consumed-by") in edges
    assert (ids[f"churn/runs/{train}"], ids["churn/models/churn@1"], "produced") in edges
    assert len(edges) == 4

    up = client.lineage.graph("models/churn@1", direction="upstream", project="churn")
    assert [n.depth for n in up.nodes] == [-4, -3, -2, -1, 0]  # farthest upstream first
    assert up.nodes[0].ref == "churn/datasets/customers@v1"
    assert (
        client.lineage.graph("models/churn@1", direction="downstream", project="churn").nodes[0].ref
        == "churn/models/churn@1"
    )

    shallow = client.lineage.graph(prep, depth=1, project="churn")
    assert sorted(n.depth for n in shallow.nodes) == [-1, 0, 1]

    tree = text_tree(client.lineage.graph(train, project="churn"))
    assert tree.splitlines()[0].startswith("run train [finished]")
    assert "upstream:" in tree and "downstream:" in tree and "model churn@1 [draft]" in tree
    graphviz = dot(down)
    assert graphviz.startswith("digraph lineage {") and graphviz.count(" -> ") == 4
    assert 'label="dataset\\ncustomers@v1"' in graphviz


def test_an_entity_without_links_is_a_graph_of_one(client: Client) -> None:
    client.projects.create("churn")
    with client.start_run(project="churn", name="alone") as run:
        pass
    graph = client.lineage.graph(run.id, project="churn")
    assert [(n.ref, n.depth) for n in graph.nodes] == [(f"churn/runs/{run.id}", 0)]
    assert graph.edges == []


def test_bad_references_and_links_are_refused(client: Client, tmp_path: Path) -> None:
    prep, _ = _chain(client, tmp_path)
    for ref in ("churn/widgets/1", "runs/", "churn/runs/xyz/artifacts", "a/b/c/d"):
        with pytest.raises(InvalidInput):
            client.lineage.graph(ref, project="churn")
    with pytest.raises(InvalidInput, match="depth"):
        client.lineage.graph(prep, depth=0, project="churn")
    with pytest.raises(NotFound):
        client.lineage.graph("churn/datasets/customers@v7")
    with pytest.raises(NotFound):
        client.lineage.graph(f"churn/runs/{prep}/artifacts/missing.csv")
    with pytest.raises(NotFound):
        client.lineage.graph("churn/models/nope@1")
    with pytest.raises(InvalidInput, match="consumed-by"):  # a dataset produces nothing
        client.lineage.link("datasets/customers@v1", "models/churn@1", "produced", project="churn")
    with pytest.raises(InvalidInput, match="itself"):
        client.lineage.link(prep, prep, project="churn")
    before = client.lineage.graph(prep, project="churn")
    with pytest.raises(NotFound):
        client.lineage.link("datasets/customers@v9", prep, project="churn")
    assert client.lineage.graph(prep, project="churn") == before


def test_what_a_caller_may_not_read_is_left_out(services: Services, tmp_path: Path) -> None:
    owner = services.owner
    for project in ("shared", "lab"):
        services.projects.create(owner, ProjectCreate(name=project))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "table.csv").write_text("id,x\n1,2\n3,4\n")
    services.data.data_roots = (folder,)
    services.data.add_from_path(owner, "shared", "table", str(folder / "table.csv"))
    first = services.tracking.create_run(owner, "lab", RunCreate(name="first"))
    services.data.link_run(owner, first.id, "shared/table@v1", "train")
    second = services.tracking.create_run(owner, "shared", RunCreate(name="second"))
    services.data.link_run(owner, second.id, "shared/table@v1", "input")

    assert len(services.lineage.graph(owner, "lab", first.id).nodes) == 2  # not its sibling
    assert len(services.lineage.graph(owner, "shared", "datasets/table@v1").nodes) == 3
    lab_only = Principal(name="lee", roles={"lab": Role.DATA_SCIENTIST})
    seen = services.lineage.graph(lab_only, "lab", first.id)
    assert [n.ref for n in seen.nodes] == [f"lab/runs/{first.id}"] and seen.edges == []
    with pytest.raises(NotFound):  # not told the dataset exists
        services.lineage.graph(lab_only, "shared", "shared/datasets/table@v1")

    viewer = Principal(name="vic", roles={"lab": Role.VIEWER, "shared": Role.VIEWER})
    assert len(services.lineage.graph(viewer, "lab", first.id).nodes) == 2
    with pytest.raises(PermissionDenied):  # reading is not writing
        services.lineage.link(
            viewer, "lab", LinkCreate(src="shared/datasets/table@v1", dst=first.id)
        )


def test_gc_forgets_purged_runs(services: Services, tmp_path: Path) -> None:
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "holdout.csv").write_text("x,y\n1,0\n2,1\n")
    services.data.data_roots = (folder,)
    services.data.add_from_path(owner, "churn", "holdout", str(folder / "holdout.csv"))
    run = services.tracking.create_run(owner, "churn", RunCreate(name="doomed"))
    services.data.link_run(owner, run.id, "holdout@v1", "test")
    other = services.tracking.create_run(owner, "churn", RunCreate(name="kept"))
    services.lineage.link(
        owner, "churn", LinkCreate(src=run.id, dst=other.id, relation=Relation.CONSUMED_BY)
    )
    assert len(services.lineage.graph(owner, "churn", "datasets/holdout@v1").nodes) == 3

    services.tracking.delete_run(owner, run.id)
    services.gc.collect(owner, GcRequest(grace_seconds=0))
    graph = services.lineage.graph(owner, "churn", "datasets/holdout@v1")
    assert [n.ref for n in graph.nodes] == ["churn/datasets/holdout@v1"]
    assert services.lineage.graph(owner, "churn", other.id).edges == []
