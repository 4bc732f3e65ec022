"""Side-by-side tables from the runner's raw records (stdlib only): tandem against MLflow measured
in the same invocation of `run.sh`, against the bare-insert floor, and against the goals.

    python3 benchmarks/summary.py --raw benchmarks/results/raw-tandem.jsonl --out summary.md

For each (bench, tool, variant) only the latest runner invocation counts; figures are medians
over its repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from typing import Any

Key = tuple[str, str, str]  # bench, tool, variant

TRACKING = [
    ("A1 log_metric x1", "points/s"),
    ("A1 log_metric x1, 100k calls", "points/s"),
    ("A2 log_batch x1000", "points/s"),
    ("A2 log_batch 1M points x10000", "points/s"),
    ("A3 create runs", "runs/s"),
    ("A3 create runs, capture_environment=False", "runs/s"),
    ("A4 search_runs", "ms"),
    ("A5 search_runs 100k runs, 1,000 metric keys", "ms"),
]
TANDEM_VARIANTS = ["embedded", "server-sqlite", "server-postgres"]
FLOOR = "A2 log_batch 1M points x10000"
FLOOR_GOAL = 3.0  # tandem within 3x of a bare executemany
LOAD_RPS_GOAL = 2000.0
LOAD_P99_GOAL = 50.0


def load(path: str) -> dict[Key, list[dict[str, Any]]]:
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    with open(path) as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if "error" not in record:
                    key = (record["bench"], record["tool"], record.get("variant", ""))
                    groups[key].append(record)
    latest = {}
    for key, records in groups.items():
        when = max(r["when"] for r in records)
        latest[key] = [r for r in records if r["when"] == when]
    return latest


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


class Figures:
    def __init__(self, groups: dict[Key, list[dict[str, Any]]]) -> None:
        self.groups = groups

    def records(self, bench: str, tool: str, variant: str) -> list[dict[str, Any]]:
        return self.groups.get((bench, tool, variant), [])

    def median(self, bench: str, tool: str, variant: str, field: str = "value") -> float | None:
        values = [r[field] for r in self.records(bench, tool, variant) if r.get(field) is not None]
        return statistics.median(values) if values else None

    def cell(self, bench: str, tool: str, variant: str) -> str:
        records = self.records(bench, tool, variant)
        if not records:
            return "-"
        values = [r["value"] for r in records]
        text = f"**{fmt(statistics.median(values))}**"
        if len(values) > 1:
            text += f" ({fmt(min(values))}-{fmt(max(values))})"
        if not all(r.get("verified", True) for r in records):
            text += " NOT VERIFIED"
        return text


def tracking_table(fig: Figures) -> list[str]:
    lines = [
        "| benchmark | unit | tandem embedded | tandem server-sqlite | tandem server-postgres "
        "| MLflow sqlite | MLflow http | tandem embedded better than MLflow sqlite by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bench, unit in TRACKING:
        mlflow = fig.median(bench, "mlflow", "sqlite")
        tandem = fig.median(bench, "tandem", "embedded")
        ratio = "-"
        if mlflow and tandem:
            lower = unit == "ms"
            ratio = f"{(mlflow / tandem if lower else tandem / mlflow):,.0f}x"
        cells = [fig.cell(bench, "tandem", v) for v in TANDEM_VARIANTS]
        lines.append(
            f"| {bench} | {unit} | {' | '.join(cells)} | {fig.cell(bench, 'mlflow', 'sqlite')} "
            f"| {fig.cell(bench, 'mlflow', 'http')} | {ratio} |"
        )
    return lines


def floor_table(fig: Figures) -> list[str]:
    lines = [
        "| tandem backend | tandem points/s | floor | floor points/s | floor / tandem "
        f"| goal <= {FLOOR_GOAL:g}x | met |",
        "|---|---|---|---|---|---|---|",
    ]
    floors = {
        "embedded": [
            ("sqlite3 executemany", "sqlite, 1 tx"),
            ("sqlite3 executemany", "sqlite, 100 tx x 10k"),
        ],
        "server-sqlite": [("sqlite3 executemany", "sqlite, 1 tx")],
        "server-postgres": [("psycopg executemany", "postgres"), ("psycopg COPY", "postgres")],
    }
    for variant, refs in floors.items():
        tandem = fig.median(FLOOR, "tandem", variant)
        for tool, ref_variant in refs:
            floor = fig.median(FLOOR, tool, ref_variant)
            if tandem is None or floor is None:
                continue
            ratio = floor / tandem
            lines.append(
                f"| {variant} | {fmt(tandem)} | {tool} ({ref_variant}) | {fmt(floor)} "
                f"| {ratio:.2f}x | {FLOOR_GOAL:g}x | {'yes' if ratio <= FLOOR_GOAL else 'NO'} |"
            )
    return lines


def load_table(fig: Figures) -> list[str]:
    lines = [
        f"| server | req/s | goal >= {LOAD_RPS_GOAL:,.0f} | p50 ms | p99 ms | goal < "
        f"{LOAD_P99_GOAL:g} ms | verified | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    benches = sorted({k for k in fig.groups if k[1] == "tandem" and k[0].endswith("(throughput)")})
    for bench, tool, variant in benches:
        rps = fig.median(bench, tool, variant)
        p50 = fig.median(bench, tool, variant, "p50_ms")
        p99 = fig.median(bench, tool, variant, "p99_ms")
        verified = all(r.get("verified") for r in fig.records(bench, tool, variant))
        met = rps is not None and p99 is not None and rps >= LOAD_RPS_GOAL and p99 < LOAD_P99_GOAL
        lines.append(
            f"| {variant} ({bench.rsplit(', ', 1)[-1].split(' ')[0]}) "
            f"| {fig.cell(bench, tool, variant)} "
            f"| {'yes' if (rps or 0) >= LOAD_RPS_GOAL else 'NO'} | {fmt(p50)} | {fmt(p99)} "
            f"| {'yes' if (p99 or 1e9) < LOAD_P99_GOAL else 'NO'} | {'yes' if verified else 'NO'} "
            f"| {'yes' if met else 'NO'} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fig = Figures(load(a.raw))
    reps = {len(v) for v in fig.groups.values()}
    out = [
        "# tandem vs MLflow: workload A, one invocation",
        "",
        f"Medians over {'/'.join(str(r) for r in sorted(reps))} repetitions (min-max in "
        "brackets). Ratios compare medians measured in the same invocation.",
        "",
        "## Tracking (workload A)",
        "",
        *tracking_table(fig),
        "",
        "## 1M points through log_batch vs a bare insert",
        "",
        *floor_table(fig),
        "",
        "## Server under load",
        "",
        *load_table(fig),
        "",
    ]
    with open(a.out, "w") as handle:
        handle.write("\n".join(out))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
