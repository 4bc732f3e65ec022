"""Lineage queries of depth 10 over a store with 1,000,000 links (issue 5), on SQLite or
PostgreSQL, through the service the REST API and CLI call (walk, permission filter, labels).

    .venv/bin/python benchmarks/lineage_tandem.py                       # SQLite in a temp folder
    .venv/bin/python benchmarks/lineage_tandem.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_lineage

The store: 20,000 pipelines of 12 stage runs each (a run reads the two artifacts the previous
run produced); each pipeline starts from one of 4,000 dataset versions, so a version feeds five
pipelines; every last run produces a model version. That is 1,000,000 edges (input -> run,
run -> artifact, run -> model) over 740,000 nodes, bulk-inserted into the real tables (runs,
datasets, dataset_versions, registered_models, model_versions, lineage_nodes, lineage_edges).
Measured: `LineageService.graph(depth=10)` downstream from random dataset versions (about 130
nodes each) and upstream from random model versions (about 40 nodes), 200 queries each, median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from emit import emit
from sqlalchemy import insert, text

from tandem import __version__
from tandem.core.config import Settings
from tandem.data.tables import dataset_versions, datasets
from tandem.lineage.models import Direction
from tandem.lineage.tables import lineage_edges, lineage_nodes
from tandem.projects.models import ProjectCreate
from tandem.registry.tables import model_versions, registered_models
from tandem.server.container import Services
from tandem.store.db import Database
from tandem.tracking.tables import runs

PIPELINES, STEPS, VERSIONS = 21_740, 12, 4_348  # 46 links a pipeline: 1,000,040


def build(services: Services) -> tuple[list[str], list[str], int]:
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="lineage"))
    with services.db.read() as conn:
        project_pk = conn.execute(
            text("SELECT pk FROM projects WHERE name = 'lineage'")
        ).scalar_one()
    now = int(time.time() * 1000)
    run_rows, node_rows, edge_rows = [], [], []
    version_refs, model_refs = [], []
    next_node = 0

    def node(kind: str, entity_pk: int, path: str = "") -> int:
        nonlocal next_node
        next_node += 1
        node_rows.append(
            {
                "pk": next_node,
                "kind": kind,
                "entity_pk": entity_pk,
                "path": path,
                "project_pk": project_pk,
            }
        )
        return next_node

    def edge(src: int, dst: int, relation: str) -> None:
        edge_rows.append({"src": src, "dst": dst, "relation": relation, "created_at": now})

    with services.db.write() as conn:
        conn.execute(
            insert(datasets),
            [
                {
                    "pk": 1,
                    "project_pk": project_pk,
                    "name": "events",
                    "description": "",
                    "owner": "",
                    "tags": "{}",
                    "created_at": now,
                    "created_by": "bench",
                }
            ],
        )
        conn.execute(
            insert(dataset_versions),
            [
                {
                    "pk": v + 1,
                    "dataset_pk": 1,
                    "version": v + 1,
                    "digest": f"{v:064x}",
                    "format": "csv",
                    "rows": 1,
                    "size": 1,
                    "file_count": 1,
                    "source": "",
                    "message": "",
                    "created_at": now,
                    "created_by": "bench",
                    "schema": "[]",
                }
                for v in range(VERSIONS)
            ],
        )
        conn.execute(
            insert(registered_models),
            [
                {
                    "pk": 1,
                    "project_pk": project_pk,
                    "name": "m",
                    "description": "",
                    "tags": "{}",
                    "created_at": now,
                    "created_by": "bench",
                }
            ],
        )
    version_nodes = [node("dataset-version", v + 1) for v in range(VERSIONS)]
    version_refs = [f"lineage/datasets/events@v{v + 1}" for v in range(VERSIONS)]
    model_rows = []
    run_pk = 0
    for p in range(PIPELINES):
        inputs = [version_nodes[p % VERSIONS]]
        for step in range(STEPS):
            run_pk += 1
            run_rows.append(
                {
                    "pk": run_pk,
                    "id": uuid.uuid4().hex,
                    "project_pk": project_pk,
                    "name": f"p{p}-s{step}",
                    "status": "finished",
                    "user": "bench",
                    "start_time": now,
                    "environment": "{}",
                }
            )
            r = node("run", run_pk)
            for i in inputs:
                edge(i, r, "consumed-by")
            if step == STEPS - 1:
                model_rows.append(
                    {
                        "pk": p + 1,
                        "model_pk": 1,
                        "version": p + 1,
                        "flavor": "sklearn",
                        "format": "skops",
                        "trusted": False,
                        "run_pk": run_pk,
                        "artifact_path": "models/m",
                        "requirements": "[]",
                        "stage": "draft",
                        "description": "",
                        "created_at": now,
                        "created_by": "bench",
                        "stage_changed_at": now,
                        "stage_changed_by": "bench",
                    }
                )
                edge(r, node("model-version", p + 1), "produced")
                model_refs.append(f"lineage/models/m@{p + 1}")
            else:
                inputs = [node("artifact", run_pk, f"outs/part{k}.parquet") for k in range(2)]
                for a in inputs:
                    edge(r, a, "produced")
    with services.db.write() as conn:
        for table, rows in (
            (runs, run_rows),
            (model_versions, model_rows),
            (lineage_nodes, node_rows),
            (lineage_edges, edge_rows),
        ):
            for start in range(0, len(rows), 50_000):
                conn.execute(insert(table), rows[start : start + 50_000])
        if not services.db.is_sqlite:  # the rows came with their keys: move the sequences on
            for table in (
                "runs",
                "model_versions",
                "lineage_nodes",
                "datasets",
                "dataset_versions",
                "registered_models",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), "
                        f"(SELECT MAX(pk) FROM {table}))"
                    )
                )
            conn.execute(text("ANALYZE"))
    return version_refs, model_refs, len(edge_rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".tandem"
        url = a.database_url or f"sqlite:///{home / 'tandem.db'}"
        home.mkdir()
        if a.database_url:  # a fresh schema each time
            db = Database(url)
            with db.write() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.dispose()
        services = Services.build(
            Settings(home=home, database_url=url, artifacts=str(home / "blobs"))
        )
        t0 = time.perf_counter()
        versions, models, links = build(services)
        backend = "sqlite" if services.db.is_sqlite else "postgresql"
        print(
            f"{backend}: {links:,} links built in {time.perf_counter() - t0:.0f} s", file=sys.stderr
        )
        rnd = random.Random(5)
        for label, refs, direction in (
            ("downstream", versions, Direction.DOWNSTREAM),
            ("upstream", models, Direction.UPSTREAM),
        ):
            times, sizes = [], []
            for ref in rnd.sample(refs, a.queries):
                t = time.perf_counter()
                graph = services.lineage.graph(services.owner, "lineage", ref, direction, 10)
                times.append(time.perf_counter() - t)
                sizes.append(len(graph.nodes))
            median = statistics.median(times) * 1000
            emit(
                "E",
                f"lineage {label} depth 10, 1M links",
                "tandem",
                __version__,
                median,
                "ms",
                better="lower",
                variant=backend,
                seconds=median / 1000,
                links=links,
                p95_ms=round(sorted(times)[int(len(times) * 0.95)] * 1000, 2),
                nodes_median=statistics.median(sizes),
                queries=a.queries,
            )
        services.close()


if __name__ == "__main__":
    main()
