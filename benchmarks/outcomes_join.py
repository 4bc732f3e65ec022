"""Late labels joined to the prediction log (issue 23: 1M labels joined to 1M logged predictions
and the per-version, per-window metrics recomputed in at most 5 s).

In process on a temporary workspace (SQLite, or PostgreSQL with `--database-url`): endpoint
`prod` logs `--predictions` predictions of a calibrated classifier over 24 hours, two versions,
shipped as a gateway does (batches of 100,000). Then one label file with a label for every
request (drawn from the scores, so the model is calibrated) is added through
`OutcomeService.add_labels`: the file checked, the log read (`PredictionService.read_log`),
joined in Polars, stored as one Parquet batch, and the figures of every (version, hour) window
computed (ROC AUC, precision, recall, accuracy with bootstrap bands, ECE and the reliability
curve). Reported: the seconds of that call; then a late file of 1,000 labels in one hour (only
that window recomputed), and the CBPE estimates of the 24 hours against the realised figures.

    python benchmarks/outcomes_join.py [--predictions 1000000] [--slices]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tandem.core.config import Settings
from tandem.deployments.models import EndpointCreate
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services

START = 1_796_000_000_000 // 3_600_000 * 3_600_000
HOURS = 24


def logged(n: int, seed: int = 7) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(0, 2, n)))
    at = START + np.sort(rng.integers(0, HOURS * 3_600_000, n))
    version = 1 + (rng.random(n) < 0.5)
    sex = np.where(rng.random(n) < 0.5, "f", "m")
    tenure = rng.integers(0, 72, n)
    ids = pa.array([f"r{i:08d}" for i in range(n)])
    table = pa.table(
        {
            "request_id": ids,
            "at": pa.array(at, pa.int64()),
            "deployment": pa.array([f"churn-lr@{v}" for v in version]),
            "model": pa.array(["churn-lr"] * n),
            "version": pa.array(version, pa.int64()),
            "status": pa.array([200] * n, pa.int32()),
            "latency_ms": pa.array(np.full(n, 1.5)),
            "inputs": pa.array(
                [
                    f'{{"columns":["tenure","sex"],"data":[[{t},"{s}"]]}}'
                    for t, s in zip(tenure.tolist(), sex.tolist(), strict=True)
                ]
            ),
            "output": pa.array([f"[[{1 - q!r},{q!r}]]" for q in p.tolist()]),
        }
    )
    return table, p


def arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--slices", action="store_true", help="fairness across `sex` too")
    args = parser.parse_args()
    n = args.predictions
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / ".tandem"
        url = args.database_url or f"sqlite:///{home / 'tandem.db'}"
        services = Services.build(
            Settings(home=home, database_url=url, artifacts=str(home / "blobs"))
        )
        services.db.upgrade()
        owner = services.owner
        services.projects.create(owner, ProjectCreate(name="churn"))
        services.deployments.create_endpoint(owner, "churn", EndpointCreate(name="prod"))
        table, p = logged(n)
        started = time.perf_counter()
        for first in range(0, n, 100_000):
            services.predictions.ship(
                owner, "churn", "prod", gateway="gw", batch=f"b{first}",
                body=arrow(table.slice(first, 100_000)),
            )  # fmt: skip
        shipped = time.perf_counter() - started
        rng = np.random.default_rng(11)
        y = (rng.random(n) < p).astype(np.int8)
        labels = pa.table({"request_id": table.column("request_id"), "label": pa.array(y)})
        body = parquet(labels)
        now = START + (HOURS + 48) * 3_600_000
        started = time.perf_counter()
        receipt = services.outcomes.add_labels(
            owner, "churn", "prod", body, slices=["sex"] if args.slices else [], now=now
        )
        joined = time.perf_counter() - started
        late_ids = table.column("request_id").slice(n // 2, 1000)
        late = pa.table({"request_id": late_ids, "label": pa.array(y[n // 2 : n // 2 + 1000])})
        started = time.perf_counter()
        again = services.outcomes.add_labels(owner, "churn", "prod", parquet(late), now=now + 1)
        late_s = time.perf_counter() - started
        started = time.perf_counter()
        estimates = services.outcomes.estimates(
            owner, "churn", "prod", since=START, until=START + HOURS * 3_600_000
        )
        estimate_s = time.perf_counter() - started
        realised = {
            (w.model, w.version, w.start): w
            for w in services.outcomes.window_metrics(owner, "churn", "prod")
        }
        services.close()
    # CBPE against the realised figure per window (estimates over windows with labels are the
    # realised ones, so compare with a fresh CBPE of the same scores)
    errors = {"roc_auc": [], "accuracy": []}
    from tandem.outcomes import cbpe

    at = table.column("at").to_numpy()
    version = table.column("version").to_numpy()
    for (_, v, start), figures in realised.items():
        mask = (version == v) & (at >= start) & (at < start + 3_600_000)
        estimated = cbpe.estimate(p[mask])
        for metric in errors:
            errors[metric].append(abs(estimated[metric].value - figures.metrics[metric]))
    result = {
        "predictions": n,
        "ship_s": round(shipped, 2),
        "add_1m_labels_s": round(joined, 2),
        "matched": receipt.matched,
        "windows": len(receipt.windows),
        "late_1000_labels_s": round(late_s, 3),
        "late_windows": len(again.windows),
        "late_duplicates": again.duplicates,
        "estimates_24h_s": round(estimate_s, 2),
        "estimates": len(estimates),
        "cbpe_abs_error_mean": {m: round(float(np.mean(e)), 4) for m, e in errors.items()},
        "cbpe_abs_error_max": {m: round(float(np.max(e)), 4) for m, e in errors.items()},
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
