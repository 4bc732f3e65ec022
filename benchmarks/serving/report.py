"""Markdown tables from one or more serving_bench.py JSON files (the BENCHMARKS.md section).

    python benchmarks/serving/report.py benchmarks/results/serving-*.json

For each file: the closed-loop table (req/s, p50, p99, ratio to tandem end to end), the model's
own predict, and tandem's scenarios with their goals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def render(path: Path) -> str:
    data = json.loads(path.read_text())
    records = data["records"]
    out = [
        f"### {path.name} (started {data['started']}, "
        f"load {' '.join(data['host']['loadavg'])} at the end)",
        "",
    ]
    closed = [r for r in records if r["bench"].startswith("one-row predict")]
    single = next(
        (r for r in closed if r["tool"] == "tandem" and r["variant"] == "single deployment"), None
    )
    out += [
        "| server | variant | round | req/s | p50 ms | p99 ms | failed "
        "| tandem e2e single (same round) / this | load before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    singles = {
        r.get("round"): r for r in closed
        if r["tool"] == "tandem" and r["variant"] == "single deployment"
    }  # fmt: skip
    for r in closed:
        base = singles.get(r.get("round"), single)
        ratio = base["value"] / r["value"] if base and r["value"] else None
        out.append(
            f"| {r['tool']} | {r['variant']} | {r.get('round', '-')} | {fmt(r['value'])} "
            f"| {fmt(r.get('p50_ms'))} | "
            f"{fmt(r.get('p99_ms'))} | {r.get('failed', '-')} | {fmt(ratio)}x "
            f"| {r.get('load_before', '-')} |"
        )
    own = [r for r in records if r["bench"] == "model's own predict"]
    if own:
        out += ["", "| model's own predict (in process) | p50 ms | p99 ms |", "|---|---|---|"]
        out += [f"| {r['variant']} | {fmt(r['p50_ms'], 3)} | {fmt(r['p99_ms'], 3)} |" for r in own]
    other = [r for r in records if r not in closed and r not in own]
    if other:
        out += ["", "| scenario | tool | variant | value | detail |", "|---|---|---|---|---|"]
        for r in other:
            keys = (
                "observed",
                "keys_on_canary",
                "sent",
                "failures",
                "intervals",
                "gateway_last_served_s",
                "primary_p99_ms_before",
                "primary_p99_ms_during",
                "reason",
                "answered",
                "goal",
                "goal_intervals",
            )
            detail = ", ".join(
                f"{k}={fmt(r[k]) if not isinstance(r[k], list) else len(r[k])}"
                for k in keys
                if r.get(k) is not None
            )
            out.append(
                f"| {r['bench']} | {r['tool']} | {r['variant']} | {fmt(r['value'])} {r['unit']} "
                f"| {detail} |"
            )
    out += ["", "| ratio / delta | value | goal |", "|---|---|---|"]
    for name, item in data["ratios"].items():
        value = item.get("ratio", item.get("value"))
        out.append(f"| {name} | {fmt(value)} | {fmt(item.get('goal'))} |")
    if data.get("notes"):
        out += ["", *[f"- {note}" for note in data["notes"]]]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    for path in ap.parse_args().files:
        print(render(path) + "\n")


if __name__ == "__main__":
    main()
