"""(1) tandem's drift per hourly window against a stored reference profile (24 windows of
100k x 20 against the 1M-row reference; data from make_data.py):

    PYTHONPATH=src .venv/bin/python benchmarks/monitoring/drift_tandem.py [--variant profiles]

profiles  the data domain's engine as a monitor uses it: the reference's profile is stored JSON
          (what a dataset version keeps; computed beforehand, untimed). Timed per window: parse
          the stored reference profile, `profile_frame` of the live window (once), and
          `compare_profiles` (Evidently's default statistics: normed Wasserstein / Jensen-Shannon,
          threshold 0.1). Not timed: reading the window's parquet (every adapter loads first).
The monitor end to end is monitoring_e2e.py drift: the windows logged through
the prediction log, a feature-drift monitor against the reference dataset version, each window
evaluated by `MonitoringService` (read_log, profile, compare, result stored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, WINDOWS, emit, summary, truth, verdict, window_path

from tandem.data.drift import compare_profiles
from tandem.data.profile import Profile, profile_frame

BENCH = "drift per hourly window, 100k x 20 vs stored 1M reference"


def profiles() -> None:
    t = truth()
    stored = json.dumps(
        profile_frame(pl.read_parquet(DATA / "drift" / "reference.parquet")).to_json()
    )
    seconds, parts, verdicts, cpu = [], [], [], []
    for hour in range(WINDOWS):
        window = pl.read_parquet(window_path(hour))
        cpu_began = time.process_time()
        began = time.perf_counter()
        reference = Profile.from_json(json.loads(stored))
        parsed = time.perf_counter()
        live = profile_frame(window)
        profiled = time.perf_counter()
        report = compare_profiles(reference, live)
        done = time.perf_counter()
        cpu.append(time.process_time() - cpu_began)
        seconds.append(done - began)
        parts.append((parsed - began, profiled - parsed, done - profiled))
        v = verdict(report.drifted_columns, t["drifted"])
        verdicts.append(v)
        print(
            f"tandem window {hour:02d}: {seconds[-1]:.3f} s (parse {parts[-1][0]:.3f}, profile "
            f"{parts[-1][1]:.3f}, compare {parts[-1][2]:.3f}), found {v['found']}/5, false "
            f"alarms {v['false_alarms']}",
            file=sys.stderr,
            flush=True,
        )
    s = summary(seconds)

    def median(i: int) -> float:
        return round(sorted(p[i] for p in parts)[len(parts) // 2], 4)

    emit(
        "M1",
        BENCH,
        "tandem",
        version("tandem"),
        s["median_s"],
        "s/window",
        variant="stored reference profile",
        seconds=s["total_s"],
        **s,
        cpu_median_s=round(sorted(cpu)[len(cpu) // 2], 4),
        parse_s=median(0),
        profile_s=median(1),
        compare_s=median(2),
        stored_profile_bytes=len(stored),
        min_found=min(v["found"] for v in verdicts),
        max_false_alarms=max(len(v["false_alarms"]) for v in verdicts),
        false_alarm_columns=sorted({c for v in verdicts for c in v["false_alarms"]}),
        notes=f"polars {pl.__version__}; profile the window once + compare sketches",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["profiles"], default="profiles")
    a = ap.parse_args()
    if a.variant == "profiles":
        profiles()
    # the monitor end to end is monitoring_e2e.py drift (a hub with the windows logged)


if __name__ == "__main__":
    main()
