"""The prediction log's request-id lookup among a million logged predictions (issue 22: "which
version answered request R" in under 50 ms).

Starts `tandem server` on a free loopback port with a workspace in a temporary folder, on
SQLite and on a fresh PostgreSQL database `bench_predlog_<pid>` (dropped afterwards), creates
endpoint `prod`, and ships `--predictions` predictions to it through the SDK as a gateway does
(`client.predictions.ship`, batches of `--batch` rows, each under its own batch id). Then it
looks up `--lookups` request ids picked at random over the whole log, each end to end through
the REST API (`client.predictions.get`: HTTP, index lookup, the segment's file read from the
blob store and checked against its hash, one row group decoded), and checks each answer names
the version that served the request. Reports shipping throughput and lookup latency
(p50/p95/p99/max, ms).

    python benchmarks/serving/predlog_lookup.py --database both --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/common.py

import pyarrow as pa
from common import postgres_database, tandem_server

import tandem
from tandem.core.config import Settings
from tandem.server.container import Services

START_AT = 1_796_000_000_000  # ms; one prediction per ms from here
VERSIONS = 3  # the log rotates through churn-lr@1..3, so an answer's version can be checked


def request_id(number: int) -> str:
    return f"req-{number:09d}-{number * 2654435761 % 2**32:08x}"


def version_of(number: int) -> int:
    return 1 + (number // 5000) % VERSIONS  # blocks of 5,000 requests per version


def make_batch(start: int, rows: int) -> pa.Table:
    numbers = range(start, start + rows)
    versions = [version_of(n) for n in numbers]
    return pa.table(
        {
            "request_id": [request_id(n) for n in numbers],
            "at": pa.array([START_AT + n for n in numbers], pa.int64()),
            "deployment": [f"churn-lr@{v}" for v in versions],
            "model": ["churn-lr"] * rows,
            "version": pa.array(versions, pa.int64()),
            "status": pa.array([200] * rows, pa.int32()),
            "latency_ms": [0.2 + (n % 100) / 1000 for n in numbers],
            "inputs": [
                f'{{"tenure": {n % 72}, "monthly_charges": {20 + n % 100}.5}}' for n in numbers
            ],
            "output": [f"[{n % 2}]" for n in numbers],
        }
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_one(database: str, predictions: int, batch: int, lookups: int, seed: int) -> dict[str, Any]:
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="predlog-")))
        url = None
        if database == "postgres":
            url = stack.enter_context(postgres_database(f"bench_predlog_{os.getpid()}"))
        server = stack.enter_context(tandem_server(home / "hub", url))
        client = tandem.Client(server, project="bench", home=home / "client")
        stack.callback(client.close)
        client.projects.create("bench")
        client.deployments.create("prod", "bench")

        ship_seconds = 0.0
        for number, start in enumerate(range(0, predictions, batch)):
            table = make_batch(start, min(batch, predictions - start))
            began = time.perf_counter()
            client.predictions.ship("prod", table, gateway="gw-1", batch=f"b{number:06d}")
            ship_seconds += time.perf_counter() - began
        segments = len(client.predictions.segments("prod", limit=10_000))

        picks = random.Random(seed).sample(range(predictions), lookups)
        client.predictions.get("prod", request_id(0))  # the connection, warmed
        latencies = []
        for number in picks:
            began = time.perf_counter()
            found = client.predictions.get("prod", request_id(number))
            latencies.append((time.perf_counter() - began) * 1000)
            assert found.version == version_of(number) and found.at == START_AT + number
        # the same lookups in process, on the same workspace: the service without HTTP
        hub = home / "hub"
        settings = Settings(home=hub, database_url=url or f"sqlite:///{hub / 'tandem.db'}",
                            artifacts=str(hub / "blobs"))  # fmt: skip
        services = Services.build(settings)
        stack.callback(services.close)
        in_process = []
        for number in picks:
            began = time.perf_counter()
            found = services.predictions.get(services.owner, "bench", "prod", request_id(number))
            in_process.append((time.perf_counter() - began) * 1000)
            assert found.version == version_of(number)
        return {
            "database": database,
            "predictions": predictions,
            "batch_rows": batch,
            "segments": segments,
            "ship_rows_per_second": round(predictions / ship_seconds),
            "ship_ms_per_batch": round(ship_seconds * 1000 / segments, 2),
            "lookups": lookups,
            "lookup_ms": figures(latencies),
            "lookup_in_process_ms": figures(in_process),
            "load_average": os.getloadavg()[0],
        }


def figures(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(latencies), 2),
        "p95": round(percentile(latencies, 0.95), 2),
        "p99": round(percentile(latencies, 0.99), 2),
        "max": round(max(latencies), 2),
        "mean": round(statistics.fmean(latencies), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per shipped batch")
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = [
        run_one(db, args.predictions, args.batch, args.lookups, args.seed) for db in databases
    ]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            ms, inner = r["lookup_ms"], r["lookup_in_process_ms"]
            print(
                f"{r['database']}: {r['predictions']:,} predictions in {r['segments']} segments "
                f"({r['ship_rows_per_second']:,} rows/s shipped); lookup over HTTP p50 "
                f"{ms['p50']} ms, p99 {ms['p99']} ms, max {ms['max']} ms; in process p50 "
                f"{inner['p50']} ms, p99 {inner['p99']} ms ({r['lookups']} ids, load "
                f"{r['load_average']:.1f})"
            )
    worst = max(r["lookup_ms"]["p99"] for r in results)
    return 0 if worst < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
