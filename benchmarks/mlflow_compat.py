"""MLflow compatibility (issue 24), side by side: the same `MlflowClient` code against a tandem
server (through its MLflow face) and against `mlflow server` (SQLite, one worker), both on
loopback on this machine, one after the other in one invocation.

Run it with the python of an MLflow environment (scripts/mlflow-venvs), telling it which python
runs tandem:

    .venv-mlflow3/bin/python benchmarks/mlflow_compat.py --tandem-python .venv/bin/python

Workloads (each timed per operation, after a warm-up; the median and the total are reported):
- `create run`: `create_run`, then `log_batch` of 10 params and 5 metrics, then `set_terminated`
  (the three requests the client makes for a short run);
- `log_batch 1k`: `log_batch` of 1,000 metric points to one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TandemServer, free_port, stop_process_group, wait_healthy


def timed(action: Callable[[int], None], n: int, warmup: int) -> list[float]:
    for i in range(warmup):
        action(-1 - i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return times


def workload(url: str, runs: int, batches: int) -> dict[str, list[float]]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"bench-{time.time_ns()}")
    now = int(time.time() * 1000)

    def create_run(i: int) -> None:
        run = client.create_run(experiment)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{j}", j / 10, now, 0) for j in range(5)],
            params=[Param(f"p{j}", str(j)) for j in range(10)],
        )
        client.set_terminated(run.info.run_id)

    target = client.create_run(experiment).info.run_id

    def log_batch(i: int) -> None:
        step = (i + 10) * 1000
        points = [Metric(f"k{j % 10}", j / 1000, now, step + j) for j in range(1000)]
        client.log_batch(target, metrics=points)

    return {
        "create run": timed(create_run, runs, warmup=5),
        "log_batch 1k": timed(log_batch, batches, warmup=3),
    }


def mlflow_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = workdir / "mlflow-server.log"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
        "--artifacts-destination", str(workdir / "mlartifacts"),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url + "/health", log, timeout=180)
    return proc, url, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tandem-python", default=".venv/bin/python")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()
    import mlflow

    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-compat-", dir="/tmp"))
    results: dict[str, dict[str, list[float]]] = {}

    server = TandemServer(workdir / "tandem")
    server.cmd[0] = args.tandem_python
    server.env.pop("MLFLOW_TRACKING_URI", None)
    server.start()
    try:
        results["tandem"] = workload(server.url, args.runs, args.batches)
    finally:
        server.stop()

    proc, url, _ = mlflow_server(workdir)
    try:
        results["mlflow"] = workload(url, args.runs, args.batches)
    finally:
        stop_process_group(proc)

    report = {
        "mlflow": mlflow.__version__,
        "runs": args.runs,
        "batches": args.batches,
        "median_ms": {
            tool: {op: round(statistics.median(t) * 1000, 2) for op, t in ops.items()}
            for tool, ops in results.items()
        },
        "total_s": {
            tool: {op: round(sum(t), 3) for op, t in ops.items()} for tool, ops in results.items()
        },
    }
    print(json.dumps(report, indent=2))
    print("\n| operation | tandem (median ms) | MLflow server (median ms) | ratio |")
    print("|---|---:|---:|---:|")
    for op in results["tandem"]:
        ours, theirs = report["median_ms"]["tandem"][op], report["median_ms"]["mlflow"][op]
        print(f"| {op} | {ours} | {theirs} | {theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
