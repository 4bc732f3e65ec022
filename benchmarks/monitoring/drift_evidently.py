"""(1) Evidently recomputing drift per window: for each hourly window of 100k x 20, a fresh
`Report([DataDriftPreset()])` run against the stored 1M-row reference, as a monitoring job built on
Evidently does (it has no stored reference statistics: evidently#506). Run in Evidently's venv:

    /tmp/benchenv-evidently/bin/python benchmarks/monitoring/drift_evidently.py [--windows 24]

Timed per window: Dataset.from_pandas of the window and the reference + report.run (tests on, so
per-column verdicts can be read), the same as the shared workload D adapter. Not timed: reading
the parquet files (the reference frame is read once and reused). --windows N (default 3; 24 for all)
measures the first N windows (about a minute each here); the per-window median gives the ratio.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import evidently
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, WINDOWS, emit, summary, truth, verdict, window_path

METHODS = {"default": {}, "ks-psi": {"num_method": "ks", "cat_method": "psi"}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--method", choices=list(METHODS), default="default")
    a = ap.parse_args()
    t = truth()
    dd = DataDefinition(numerical_columns=t["numeric"], categorical_columns=t["categorical"])
    reference = pd.read_parquet(DATA / "drift" / "reference.parquet")
    seconds, verdicts, cpu = [], [], []
    for hour in range(min(a.windows, WINDOWS)):
        window = pd.read_parquet(window_path(hour))
        cpu_began = time.process_time()
        began = time.perf_counter()
        report = Report([DataDriftPreset(**METHODS[a.method])], include_tests=True)
        snap = report.run(
            current_data=Dataset.from_pandas(window, data_definition=dd),
            reference_data=Dataset.from_pandas(reference, data_definition=dd),
        )
        tests = snap.dict()["tests"]
        detected = [
            re.search(r"for column (\S+)", x["name"]).group(1)
            for x in tests
            if x["id"] == "drift" and x["status"] == "FAIL"
        ]
        seconds.append(time.perf_counter() - began)
        cpu.append(time.process_time() - cpu_began)
        v = verdict(detected, t["drifted"])
        verdicts.append(v)
        print(
            f"evidently window {hour:02d}: {seconds[-1]:.2f} s, found {v['found']}/5, "
            f"false alarms {v['false_alarms']}",
            file=sys.stderr,
            flush=True,
        )
    s = summary(seconds)
    emit(
        "M1",
        "drift per hourly window, 100k x 20 vs stored 1M reference",
        "evidently DataDriftPreset",
        evidently.__version__,
        s["median_s"],
        "s/window",
        variant=f"recompute per window ({a.method})",
        seconds=s["total_s"],
        **s,
        cpu_median_s=round(sorted(cpu)[len(cpu) // 2], 4),
        min_found=min(v["found"] for v in verdicts),
        max_false_alarms=max(len(v["false_alarms"]) for v in verdicts),
        false_alarm_columns=sorted({c for v in verdicts for c in v["false_alarms"]}),
        notes=f"pandas {pd.__version__}; {METHODS[a.method] or 'default stattests'}",
    )


if __name__ == "__main__":
    main()
