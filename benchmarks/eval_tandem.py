"""Workload F for tandem: sliced evaluation, parity differences and a 200-resample bootstrap of
1,000,000 binary predictions, with the engine behind `tandem evaluate` (tandem.evaluation).

    .venv/bin/python benchmarks/eval_tandem.py --data /tmp/bench-f/preds.parquet --boot 200 \
        --values benchmarks/results/values

Follows the shared workload's definitions (../shared/bench/f_eval/common.py): the six metrics
(roc_auc, accuracy, precision, recall, f1, selection_rate at threshold 0.5) overall, per slice
column and for the joint 100-group slicing; demographic parity and equalised odds differences
for the four slicings; 200 resamples drawn with default_rng(7). Values are written to
F-tandem.json next to the NumPy reference's F-numpy.json and compared with it (1e-9).
Also times the whole report `evaluate_binary` builds (all 10 metrics, fairness with ratios and
per-group rates, calibration, bootstrap of 6 headline metrics), which does more than the workload.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from emit import emit

from tandem import __version__
from tandem.evaluation import evaluate_binary
from tandem.evaluation.bootstrap import bootstrap
from tandem.evaluation.fairness import fairness
from tandem.evaluation.groups import Slicing, slicings
from tandem.evaluation.metrics import BinaryData, binary_metrics

METRICS = ["roc_auc", "accuracy", "precision", "recall", "f1", "selection_rate"]
FEATURES = ["s2", "s5", "s10"]
ROWS = "1M rows"


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}/") if isinstance(v, dict) else {prefix + k: v})
    return out


def compare(values: dict, reference: Path, section: str) -> tuple[float | None, int]:
    if not reference.exists():
        return None, 0
    ref = flatten(json.loads(reference.read_text()).get(section, {}))
    mine = flatten(values.get(section, {}))
    keys = [k for k in mine if k in ref]
    missing = [k for k in ref if k not in mine]
    if missing:
        return float("inf"), len(keys)
    return max(abs(float(mine[k]) - float(ref[k])) for k in keys), len(keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/bench-f/preds.parquet")
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--values", default=str(Path(__file__).parent / "results" / "values"))
    a = ap.parse_args()
    t0 = time.perf_counter()
    table = pq.read_table(a.data)
    y = table["y_true"].to_numpy().astype(np.int64)
    score = table["y_score"].to_numpy()
    columns = {f: table[f].to_numpy(zero_copy_only=False) for f in FEATURES}
    load_s = time.perf_counter() - t0

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    data = BinaryData(y, score, 0.5)
    overall = binary_metrics(data, Slicing.overall(len(y)), METRICS)
    dt_overall = time.perf_counter() - t0
    values: dict = {
        "slices": {"overall": {m: float(overall[m][0]) for m in METRICS}},
        "parity": {"demographic_parity_difference": {}, "equalized_odds_difference": {}},
    }
    for slicing in slicings(columns):
        grouped = binary_metrics(data, slicing, METRICS)
        values["slices"][slicing.name] = {
            label: {m: float(grouped[m][g]) for m in METRICS}
            for g, label in enumerate(slicing.labels)
        }
        fair = fairness(grouped, slicing)
        for key in values["parity"]:
            values["parity"][key][slicing.name] = fair[key]
    dt_a = time.perf_counter() - t_all
    t0 = time.perf_counter()
    boot = bootstrap(data, METRICS, resamples=a.boot, seed=7)
    dt_b = time.perf_counter() - t0
    dt_ab = time.perf_counter() - t_all
    values["bootstrap"] = {
        m: {"mean": s["mean"], "p2.5": s["low"], "p97.5": s["high"]}
        for m, s in boot["metrics"].items()
    }
    values["bootstrap_resamples"] = a.boot

    t0 = time.perf_counter()
    report = evaluate_binary(y, score, slices=columns, protected=FEATURES, resamples=a.boot, seed=7)
    dt_report = time.perf_counter() - t0

    out = Path(a.values)
    out.mkdir(parents=True, exist_ok=True)
    (out / "F-tandem.json").write_text(json.dumps(values, indent=1, sort_keys=True))
    checks = {
        s: compare(values, out / "F-numpy.json", s) for s in ("slices", "parity", "bootstrap")
    }
    ok = {s: d is not None and d <= 1e-9 for s, (d, _) in checks.items()}

    def note(section: str) -> str:
        diff, compared = checks[section]
        return (
            f"max |diff| vs numpy {diff:.1e} over {compared} values"
            if diff is not None
            else "no reference"
        )

    common = {"load_s": load_s, "n_rows": len(y), "overall": values["slices"]["overall"]}
    tool, version = "tandem", __version__
    emit(
        "F",
        f"(c) overall 6 metrics, {ROWS}",
        tool,
        version,
        dt_overall,
        "s",
        better="lower",
        seconds=dt_overall,
        verified=ok["slices"],
        **common,
    )
    emit(
        "F",
        f"(a) all slice metrics + parity differences, {ROWS}",
        tool,
        version,
        dt_a,
        "s",
        better="lower",
        seconds=dt_a,
        verified=ok["slices"] and ok["parity"],
        notes=f"slices: {note('slices')}; parity: {note('parity')}",
        **common,
    )
    emit(
        "F",
        f"(b) bootstrap {a.boot} resamples, 6 overall metrics, {ROWS}",
        tool,
        version,
        dt_b,
        "s",
        better="lower",
        seconds=dt_b,
        verified=ok["bootstrap"],
        notes=note("bootstrap"),
        **common,
    )
    emit(
        "F",
        f"(a+b) slices + parity + bootstrap {a.boot}, {ROWS}",
        tool,
        version,
        dt_ab,
        "s",
        better="lower",
        seconds=dt_ab,
        verified=all(ok.values()),
        **common,
    )
    emit(
        "F",
        f"evaluate_binary full report, {ROWS}",
        tool,
        version,
        dt_report,
        "s",
        better="lower",
        seconds=dt_report,
        notes="10 metrics overall and per slice (3 + joint), fairness with ratios, "
        f"calibration, bootstrap {a.boot} of 6 headline metrics; "
        f"ECE {report['calibration']['ece']:.4f}",
        **common,
    )


if __name__ == "__main__":
    main()
