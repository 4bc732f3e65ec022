"""A5 for MLflow (run with the MLflow venv): `search_runs` with the A4 filter and order over
100,000 runs in one experiment whose runs use 1,000 distinct metric keys.

The dataset is `common.make_search_dataset`, the one tandem's adapter searches. Logging 100,000
runs through MLflow's API would take about an hour here (A3: ~32 runs/s), so they are written
straight into MLflow's SQLite schema (untimed), as MLflow itself would leave them: `runs`
(FINISHED, active), `params`, `tags` (+ `mlflow.runName`), `latest_metrics`, and one `metrics`
row per latest value. The database and the experiment are created through `MlflowClient`, so the
schema is MLflow's own, fully migrated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from typing import Any

from common import FILTER, ORDER, SearchDataset, make_search_dataset
from emit import emit


def populate(db_path: str, experiment_id: str, artifact_root: str, data: SearchDataset) -> None:
    ids = data.run_ids
    starts = data.start_times
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?, ?, 'UNKNOWN', '', '', 'bench', 'FINISHED', "
            "?, ?, '', 'active', ?, ?)",
            [
                (
                    run_id,
                    f"run-{i}",
                    t,
                    t + 1000,
                    f"{artifact_root}/{run_id}/artifacts",
                    int(experiment_id),
                )
                for i, (run_id, t) in enumerate(zip(ids, starts, strict=True))
            ],
        )
        conn.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, ids[i]) for i, k, v in data.params],
        )
        conn.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [(k, v, ids[i]) for i, k, v in data.tags]
            + [("mlflow.runName", f"run-{i}", run_id) for i, run_id in enumerate(ids)],
        )
        conn.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, 0, 0, ?)",
            [(k, v, starts[i], ids[i]) for i, k, v in data.latest],
        )
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, 0, 0)",
            [(k, v, starts[i], ids[i]) for i, k, v in data.latest],
        )
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=20)
    a = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-a5-mlflow-", dir="/tmp")
    os.chdir(workdir)
    import mlflow
    from mlflow import MlflowClient

    try:
        db_path = f"{workdir}/mlflow.db"
        client = MlflowClient(f"sqlite:///{db_path}")
        experiment_id = client.create_experiment("a5")
        artifact_root = client.get_experiment(experiment_id).artifact_location
        data = make_search_dataset(a.runs, a.keys)
        t0 = time.perf_counter()
        populate(db_path, experiment_id, artifact_root, data)
        load_s = time.perf_counter() - t0

        latencies, ok = [], True
        for _ in range(a.queries):
            t0 = time.perf_counter()
            runs: Any = client.search_runs(
                [experiment_id], filter_string=FILTER, order_by=[ORDER], max_results=100
            )
            latencies.append(time.perf_counter() - t0)
            ok &= [int(r.data.params["run_index"]) for r in runs] == data.top
        emit(
            "A",
            f"A5 search_runs {a.runs // 1000}k runs, {a.keys:,} metric keys",
            "mlflow",
            mlflow.__version__,
            statistics.median(latencies) * 1000,
            f"ms (median of {a.queries})",
            better="lower",
            variant="sqlite",
            seconds=sum(latencies),
            q_min_ms=min(latencies) * 1000,
            q_max_ms=max(latencies) * 1000,
            matches=data.matches,
            verified=ok,
            runs_in_experiment=a.runs,
            populate_s=round(load_s, 1),
            notes="runs written straight into MLflow's sqlite schema (untimed)",
        )
    finally:
        os.chdir("/tmp")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
