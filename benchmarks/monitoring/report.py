"""The goals table of one monitoring run: reads the BENCH records of a run's log and prints each
goal of issue 23's Speed section with tandem's figure, the peer's, the ratio and whether it is met
(Markdown, for BENCHMARKS.md). A figure nobody measured is "pending".

    python3 benchmarks/monitoring/report.py benchmarks/results/monitoring-<stamp>.log
"""

from __future__ import annotations

import json
import sys
from typing import Any


def records(path: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    with open(path) as f:
        for line in f:
            if line.startswith("BENCH "):
                r = json.loads(line[6:])
                found[(r["workload"], r["tool"], r.get("variant", ""))] = r
    return found


def pick(found: dict[tuple[str, str, str], dict[str, Any]], workload: str, tool: str,
         variant: str | None = None) -> dict[str, Any] | None:  # fmt: skip
    for (w, t, v), r in found.items():
        if w == workload and t.startswith(tool) and (variant is None or v == variant):
            return r
    return None


def yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def main() -> int:
    found = records(sys.argv[1])
    rows: list[tuple[str, str, str, str, str]] = []
    pending = "pending"

    # (1) drift per window
    mine = pick(found, "M1", "tandem", "stored reference profile")
    e2e = pick(found, "M1", "tandem", "monitor end to end")
    peer = pick(found, "M1", "evidently")
    for r, label in ((mine, "profile + compare"), (e2e, "monitor end to end")):
        if r is None:
            rows.append((f"(1) drift per window <= 0.5 s ({label})", pending, "", "", pending))
            continue
        ratio = f"{peer['median_s'] / r['median_s']:,.0f}x" if peer else pending
        if peer and r.get("cpu_median_s") and peer.get("cpu_median_s"):
            ratio += f" (CPU {peer['cpu_median_s'] / r['cpu_median_s']:,.0f}x)"
        peer_text = (f"Evidently {peer['median_s']:.1f} s/window (n={peer['n']}, "
                     f"found {peer['min_found']}/5, false alarms {peer['max_false_alarms']})"
                     if peer else pending)  # fmt: skip
        ok = r["median_s"] <= 0.5 and (peer is None or peer["median_s"] / r["median_s"] >= 10)
        quality = r["min_found"] == 5 and r["max_false_alarms"] <= 1
        rows.append((
            f"(1) drift per window <= 0.5 s, >= 10x Evidently, 5 found, <= 1 false alarm ({label})",
            f"{r['median_s']:.3f} s median (CPU {r.get('cpu_median_s', 0):.3f} s), "
            f"{r['max_s']:.3f} s "
            f"max over {r['n']}; found "
            f"{r['min_found']}/5 in every window, false alarms {r['max_false_alarms']}",
            peer_text, ratio, yes(ok and quality) + ("" if peer else " (peer pending)"),
        ))  # fmt: skip

    # (2) labels joined
    r = pick(found, "M2", "tandem")
    floor = pick(found, "M2", "polars floor")
    floor_text = f"Polars floor {floor['value']:.2f} s" if floor else ""
    if r is None:
        rows.append(("(2) 1M labels joined + per-window metrics <= 5 s", pending, floor_text, "",
                     pending))  # fmt: skip
    else:
        rows.append(("(2) 1M labels joined + per-window metrics <= 5 s", f"{r['value']:.2f} s",
                     floor_text, f"{r['value'] / floor['value']:.1f}x the floor" if floor else "",
                     yes(r["value"] <= 5)))  # fmt: skip

    # (3) CBPE
    r, peer = pick(found, "M3", "tandem"), pick(found, "M3", "nannyml")
    if r is None:
        rows.append(
            (
                "(3) CBPE within 0.02, error and time vs NannyML",
                pending,
                f"NannyML {peer['value']:.2f} s" if peer else pending,
                "",
                pending,
            )
        )
    else:
        text = (f"AUC max err {r['roc_auc_max_error']:.4f} (MAE {r['roc_auc_mae']:.4f}), acc max "
                f"err {r['accuracy_max_error']:.4f} (MAE {r['accuracy_mae']:.4f}); "
                f"{r['value']:.2f} s (point estimates {r['point_estimates_s']:.3f} s)")  # fmt: skip
        peer_text = (f"NannyML AUC max err {peer['roc_auc_max_error']:.4f} (MAE "
                     f"{peer['roc_auc_mae']:.4f}), acc max err {peer['accuracy_max_error']:.4f} "
                     f"(MAE {peer['accuracy_mae']:.4f}); {peer['value']:.2f} s"
                     if peer else pending)  # fmt: skip
        within = r["roc_auc_max_error"] <= 0.02 and r["accuracy_max_error"] <= 0.02
        ratio = f"time {peer['value'] / r['value']:.2f}x NannyML's speed" if peer else ""
        rows.append(("(3) CBPE within 0.02 of realised; NannyML side by side", text, peer_text,
                     ratio, yes(within)))  # fmt: skip

    # (4) alert latency
    r = pick(found, "M4", "tandem")
    if r is None:
        rows.append(("(4) alert at the webhook <= one interval + 5 s after the breach", pending,
                     "", "", pending))  # fmt: skip
    else:
        rows.append(("(4) alert at the webhook <= one interval + 5 s after the breach",
                     f"{r['value']:.2f} s (interval {r['interval_s']} s)", "", "",
                     yes(r["value"] <= r["interval_s"] + 5)))  # fmt: skip

    # (5) conformance
    r = pick(found, "M5", "tandem")
    if r is None:
        rows.append(("(5) >= 20 conformance scenarios pass", pending, "", "", pending))
    else:
        rows.append(("(5) >= 20 conformance scenarios pass", f"{r['passed']} of {r['total']}",
                     "", "", yes(r["passed"] >= 20 and r["failed"] == 0)))  # fmt: skip

    print("| goal | tandem | peer (same run) | ratio | met |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
