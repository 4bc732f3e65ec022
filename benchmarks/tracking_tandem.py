"""Workload A (experiment tracking) for tandem: the shared MLflow adapter's workloads, with the
same bench strings and BENCH lines, plus larger ones. One invocation = a fresh, empty store.

  A1   20,000 single-point run.log_metric("loss", v, step=i), then run.end()     -> points/s
  A1b  the same with 100,000 calls                                                 -> points/s
  A2   200,000 points via client.runs.log_batch, 1000 per call (10 keys x 100)     -> points/s
  A2b  1,000,000 points via client.runs.log_batch, 10,000 per call (10 keys x 1000) -> points/s
  A3   2,000 runs: tandem.start_run(params=10, tags=3) + log_metrics(5) + end      -> runs/s
       (default capture_environment=True; again with capture_environment=False)
  A4   20 searches FILTER / ORDER / limit 100 over the A3 runs                     -> median ms
  A5   the same search over 100,000 runs in a project with 1,000 metric keys       -> median ms
       (the runs are written straight into tandem's tables, untimed; see `populate`)

Single-point logging is timed up to the end of `run.end()`, which ships every spooled point:
when the timer stops, the points are stored (each result is read back and checked).

--backend embedded        : tandem.Client(home=<fresh temp dir>), SQLite, the app in process
--backend server-sqlite   : `tandem server` (SQLite) on a free loopback port, tandem.Client(url)
--backend server-postgres : the same on a fresh PostgreSQL database `bench_tandem`, dropped after
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from common import (
    FILTER,
    ORDER,
    SearchDataset,
    expected_top,
    make_run_payloads,
    make_search_dataset,
    postgres_database,
    tandem_server,
)
from emit import emit

import tandem

BACKENDS = ("embedded", "server-sqlite", "server-postgres")
TOOL = "tandem"
ALL = "A1,A1b,A2,A2b,A3,A3n,A4,A5"


@contextlib.contextmanager
def open_backend(backend: str, workdir: Path) -> Iterator[tuple[tandem.Client, str]]:
    """A client on a fresh store, and the store's database URL."""
    # The SDK spools to $TANDEM_HOME/spool; keep it (and any stray .tandem/) in the workdir.
    os.environ["TANDEM_HOME"] = str(workdir / "client")
    if backend == "embedded":
        home = workdir / "workspace"
        client = tandem.Client(home=home)
        yield client, f"sqlite:///{home / 'tandem.db'}"
        return
    server_home = workdir / "server"
    with contextlib.ExitStack() as stack:
        db_url = None
        if backend == "server-postgres":
            db_url = stack.enter_context(postgres_database("bench_tandem"))
        url = stack.enter_context(tandem_server(server_home, db_url))
        client = stack.enter_context(tandem.Client(url))
        yield client, db_url or f"sqlite:///{server_home / 'tandem.db'}"


# -- the workloads --------------------------------------------------------------------------------


def a1(client: tandem.Client, project: str, n: int) -> tuple[float, bool, float]:
    run = tandem.start_run(project, client=client)
    t0 = time.perf_counter()
    for i in range(n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    t_logged = time.perf_counter()
    run.end()
    dt = time.perf_counter() - t0
    got = len(client.runs.metric_history(run.id, "loss").step)
    return dt, got == n, t_logged - t0


def metric_batches(n: int, batch: int, keys: int = 10) -> list[dict[str, list[Any]]]:
    """Columns of `n` points in batches of `batch`: `keys` keys x batch/keys steps each."""
    steps_per_batch = batch // keys
    ts = int(time.time() * 1000)
    out = []
    for b in range(n // batch):
        steps = range(b * steps_per_batch, (b + 1) * steps_per_batch)
        cols: dict[str, list[Any]] = {"key": [], "value": [], "step": [], "timestamp": []}
        for s in steps:
            for k in range(keys):
                cols["key"].append(f"m{k}")
                cols["value"].append((s * 7 + k) % 1000 / 1000.0)
                cols["step"].append(s)
                cols["timestamp"].append(ts)
        out.append(cols)
    return out


def a2(client: tandem.Client, project: str, n: int, batch: int) -> tuple[float, bool]:
    run_id = client.runs.create(project).id
    batches = metric_batches(n, batch)
    t0 = time.perf_counter()
    for cols in batches:
        client.runs.log_batch(run_id, metrics=cols)
    dt = time.perf_counter() - t0
    client.runs.finish(run_id)
    got = len(client.runs.metric_history(run_id, "m0").step)
    return dt, got == n // 10


def a3(
    client: tandem.Client, project: str, n: int, *, capture_environment: bool
) -> tuple[float, int, list[int]]:
    payloads = make_run_payloads(n)
    t0 = time.perf_counter()
    for params, metrics, tags in payloads:
        with tandem.start_run(
            project,
            params=params,
            tags=tags,
            capture_environment=capture_environment,
            client=client,
        ) as run:
            run.log_metrics(metrics)
    dt = time.perf_counter() - t0
    matches, top = expected_top([(p["run_index"], p["model"], m["acc"]) for p, m, _ in payloads])
    return dt, matches, top


def search(
    client: tandem.Client, project: str, queries: int, top: list[int]
) -> tuple[list[float], bool]:
    latencies, ok = [], True
    for _ in range(queries):
        t0 = time.perf_counter()
        page = client.runs.search(project, FILTER, order_by=[ORDER], limit=100)
        latencies.append(time.perf_counter() - t0)
        ok &= [int(run.params["run_index"]) for run in page.items] == top
    return latencies, ok


# -- A5 population: straight into tandem's tables -------------------------------------------------


def _bulk(conn: Any, is_sqlite: bool, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    if is_sqlite:
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def populate(db_url: str, project: str, data: SearchDataset) -> None:
    """Write the dataset into tandem's tables as the SDK would leave them (runs, params, tags,
    interned metric keys, latest values and one stored point per metric), in one transaction.
    Uses tandem's own table definitions; SQLite through executemany, PostgreSQL through COPY."""
    from sqlalchemy import create_engine, func, insert, select, text

    from tandem.projects.tables import projects
    from tandem.tracking.tables import metric_keys, runs

    engine = create_engine(db_url)
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.begin() as conn:
            project_pk = conn.execute(
                select(projects.c.pk).where(projects.c.name == project)
            ).scalar_one()
            known = set(conn.execute(select(metric_keys.c.name)).scalars())
            new = [{"name": name} for name in data.metric_names if name not in known]
            if new:
                conn.execute(insert(metric_keys), new)
            key_ids = dict(conn.execute(select(metric_keys.c.name, metric_keys.c.id)).all())
            base = conn.execute(select(func.coalesce(func.max(runs.c.pk), 0))).scalar_one()
            pks = [base + 1 + i for i in range(len(data.run_ids))]
            _bulk(
                conn,
                is_sqlite,
                "runs",
                (
                    "pk",
                    "id",
                    "project_pk",
                    "name",
                    "status",
                    "user",
                    "start_time",
                    "end_time",
                    "environment",
                ),
                [
                    (pk, run_id, project_pk, f"run-{i}", "finished", "bench", t, t + 1000, "{}")
                    for i, (pk, run_id, t) in enumerate(
                        zip(pks, data.run_ids, data.start_times, strict=True)
                    )
                ],
            )
            _bulk(
                conn,
                is_sqlite,
                "params",
                ("run_pk", "key", "value"),
                [(pks[i], k, v) for i, k, v in data.params],
            )
            _bulk(
                conn,
                is_sqlite,
                "tags",
                ("run_pk", "key", "value"),
                [(pks[i], k, v) for i, k, v in data.tags],
            )
            starts = data.start_times
            _bulk(
                conn,
                is_sqlite,
                "latest_metrics",
                ("run_pk", "key_id", "project_pk", "step", "timestamp", "value"),
                [(pks[i], key_ids[k], project_pk, 0, starts[i], v) for i, k, v in data.latest],
            )
            _bulk(
                conn,
                is_sqlite,
                "metrics",
                ("run_pk", "key_id", "step", "timestamp", "value"),
                [(pks[i], key_ids[k], 0, starts[i], v) for i, k, v in data.latest],
            )
            if not is_sqlite:
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('runs', 'pk'), :pk)"),
                    {"pk": pks[-1]},
                )
        if not is_sqlite:  # what autovacuum would do shortly after a bulk load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=BACKENDS, required=True)
    ap.add_argument("--a1-points", type=int, default=20_000)
    ap.add_argument("--a1b-points", type=int, default=100_000)
    ap.add_argument("--a2-points", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--a2b-points", type=int, default=1_000_000)
    ap.add_argument("--a2b-batch", type=int, default=10_000)
    ap.add_argument("--a3-runs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--a5-runs", type=int, default=100_000)
    ap.add_argument("--a5-keys", type=int, default=1000)
    ap.add_argument("--only", default=ALL, help=f"comma list out of {ALL}")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    a = ap.parse_args()
    only = set(a.only.split(","))
    variant, version = a.backend, tandem.__version__

    def out(bench: str, value: float, unit: str, **extra: Any) -> None:
        emit("A", bench, TOOL, version, value, unit, variant=variant, **extra)

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-a-tandem-{a.backend}-", dir="/tmp"))
    os.chdir(workdir)
    try:
        with open_backend(a.backend, workdir) as (client, db_url):
            for key, bench, points in [
                ("A1", "A1 log_metric x1", a.a1_points),
                ("A1b", "A1 log_metric x1, 100k calls", a.a1b_points),
            ]:
                if key in only:
                    dt, ok, log_s = a1(client, key.lower(), points)
                    out(
                        bench,
                        points / dt,
                        "points/s",
                        seconds=dt,
                        n=points,
                        verified=ok,
                        log_calls_s=log_s,
                        notes="timed until run.end() has stored every point",
                    )
            for key, bench, points, per_call in [
                ("A2", "A2 log_batch x1000", a.a2_points, a.batch),
                ("A2b", f"A2 log_batch 1M points x{a.a2b_batch}", a.a2b_points, a.a2b_batch),
            ]:
                if key in only:
                    dt, ok = a2(client, key.lower(), points, per_call)
                    out(
                        bench,
                        points / dt,
                        "points/s",
                        seconds=dt,
                        n=points,
                        verified=ok,
                        notes=f"client.runs.log_batch, {per_call:,} points per call",
                    )
            top: list[int] = []
            matches = 0
            if "A3" in only or "A4" in only:
                dt, matches, top = a3(client, "a3", a.a3_runs, capture_environment=True)
                if "A3" in only:
                    out(
                        "A3 create runs",
                        a.a3_runs / dt,
                        "runs/s",
                        seconds=dt,
                        n=a.a3_runs,
                        notes="10 params, 5 metrics, 3 tags per run: start_run(params=, tags=) "
                        "+ log_metrics + end; capture_environment=True (default)",
                    )
            if "A3n" in only:
                dt, _, _ = a3(client, "a3n", a.a3_runs, capture_environment=False)
                out(
                    "A3 create runs, capture_environment=False",
                    a.a3_runs / dt,
                    "runs/s",
                    seconds=dt,
                    n=a.a3_runs,
                )
            if "A4" in only:
                lat, ok = search(client, "a3", a.queries, top)
                out(
                    "A4 search_runs",
                    statistics.median(lat) * 1000,
                    f"ms (median of {a.queries})",
                    better="lower",
                    seconds=sum(lat),
                    q_min_ms=min(lat) * 1000,
                    q_max_ms=max(lat) * 1000,
                    matches=matches,
                    verified=ok,
                    runs_in_experiment=a.a3_runs,
                )
            if "A5" in only:
                data = make_search_dataset(a.a5_runs, a.a5_keys)
                client.projects.create("a5")
                t0 = time.perf_counter()
                populate(db_url, "a5", data)
                load_s = time.perf_counter() - t0
                lat, ok = search(client, "a5", a.queries, data.top)
                out(
                    f"A5 search_runs {a.a5_runs // 1000}k runs, {a.a5_keys:,} metric keys",
                    statistics.median(lat) * 1000,
                    f"ms (median of {a.queries})",
                    better="lower",
                    seconds=sum(lat),
                    q_min_ms=min(lat) * 1000,
                    q_max_ms=max(lat) * 1000,
                    matches=data.matches,
                    verified=ok,
                    runs_in_experiment=a.a5_runs,
                    populate_s=round(load_s, 1),
                    notes="runs written straight into tandem's tables (untimed)",
                )
    finally:
        os.chdir("/tmp")
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
