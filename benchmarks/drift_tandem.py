"""Workload D (drift, 1M reference vs 1M current rows x 20 columns, 5 drifted) for tandem, with
the shared harness protocol (same bench string as the numpy/scipy, Evidently and whylogs
adapters, tool "tandem"). Tandem's default verdicts are Evidently's DataDriftPreset defaults
(normed Wasserstein >= 0.1 for numeric columns, Jensen-Shannon >= 0.1 for categorical ones).

  raw rows               both tables in memory (pl.read_parquet, untimed, as every adapter
                         loads); timed: profile both + compare (`compare_frames`)
  from stored profiles   both profiles computed and serialised to JSON text beforehand
                         (untimed); timed: parse the two stored JSON texts, `Profile.from_json`,
                         `compare_profiles` -- what `tandem data diff` does for two versions
  raw rows, exact        `compare_frames(exact=True)`: every value counted, every statistic exact
  profile only           bench "profile only, 2 x 1M rows x 20 cols" (whylogs has the same row):
                         `profile_frame` of both tables

    .venv/bin/python benchmarks/drift_tandem.py [--variant raw|profiles|exact|profile|all]
    python3 /work/shared/bench/harness/runner.py --repeat 3 -- \\
        .venv/bin/python benchmarks/drift_tandem.py

The shared bench folder is $BENCH_SHARED (default /work/shared/bench). Data are generated into
/tmp/bench-d (--data) with its make_data.py when missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

SHARED = Path(os.environ.get("BENCH_SHARED", "/work/shared/bench"))
sys.path.insert(0, str(SHARED / "d_drift"))  # before this folder: its common.py wins

import common as shared  # noqa: E402 - the shared workload-D harness (emit, run, truth)

from tandem.data.drift import DriftReport, compare_frames, compare_profiles  # noqa: E402
from tandem.data.profile import Profile, profile_frame  # noqa: E402

TOOL = "tandem"
VARIANTS = ("raw", "profiles", "exact", "profile")


def ensure_data(folder: str) -> None:
    if not (Path(folder) / "truth.json").exists():
        subprocess.run(
            [sys.executable, str(SHARED / "d_drift" / "make_data.py"), "--out", folder], check=True
        )


def load_frames(ref_path: str, cur_path: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.read_parquet(ref_path), pl.read_parquet(cur_path)


def load_stored(ref_path: str, cur_path: str) -> tuple[str, str]:
    """Both profiles as the JSON text a dataset version stores (computed here, untimed)."""
    ref, cur = load_frames(ref_path, cur_path)
    return json.dumps(profile_frame(ref).to_json()), json.dumps(profile_frame(cur).to_json())


def detected(report: DriftReport, compute: Any) -> list[str]:
    # What the other adapters report alongside their verdicts, for the notes.
    columns = {c.column: c for c in report.columns}
    compute.extra = {
        "statistics": {
            name: {"statistic": c.statistic, "value": round(c.value or 0.0, 5), "exact": c.exact}
            for name, c in columns.items()
        },
        "dataset_drift": report.drifted,
    }
    return report.drifted_columns


def main() -> None:
    ap = shared.parser()
    ap.add_argument("--variant", choices=[*VARIANTS, "all"], default="all")
    args = ap.parse_args()
    ensure_data(args.data)
    tandem_version = version("tandem")
    polars_version = f"polars {pl.__version__}"
    chosen = VARIANTS if args.variant == "all" else (args.variant,)

    if "raw" in chosen:

        def raw(ref: pl.DataFrame, cur: pl.DataFrame, truth: dict[str, Any]) -> list[str]:
            return detected(compare_frames(ref, cur), raw)

        shared.run(
            args, TOOL, tandem_version, load_frames, raw, variant="raw rows",
            notes=f"{polars_version}; profile both + compare; Evidently's default statistics",
        )  # fmt: skip

    if "profiles" in chosen:

        def stored(ref: str, cur: str, truth: dict[str, Any]) -> list[str]:
            a = Profile.from_json(json.loads(ref))
            b = Profile.from_json(json.loads(cur))
            return detected(compare_profiles(a, b), stored)

        sizes: list[int] = []

        def load_and_measure(ref_path: str, cur_path: str) -> tuple[str, str]:
            texts = load_stored(ref_path, cur_path)
            sizes.extend(len(t) for t in texts)
            return texts

        shared.run(
            args, TOOL, tandem_version, load_and_measure, stored, variant="from stored profiles",
            notes=f"{polars_version}; profiles computed beforehand (untimed); timed: JSON parse "
            "+ from_json + compare",
        )  # fmt: skip
        print(f"stored profile sizes: {sizes} bytes", file=sys.stderr)

    if "exact" in chosen:

        def exact(ref: pl.DataFrame, cur: pl.DataFrame, truth: dict[str, Any]) -> list[str]:
            return detected(compare_frames(ref, cur, exact=True), exact)

        shared.run(
            args, TOOL, tandem_version, load_frames, exact, variant="raw rows, exact",
            notes=f"{polars_version}; every value counted; all statistics exact",
        )  # fmt: skip

    if "profile" in chosen:
        t = shared.truth(args.data)
        ref, cur = load_frames(
            os.path.join(args.data, "reference.parquet"), os.path.join(args.data, "current.parquet")
        )
        t0 = time.perf_counter()
        profile_frame(ref)
        profile_frame(cur)
        seconds = time.perf_counter() - t0
        shared.emit(
            "D", "profile only, 2 x 1M rows x 20 cols", TOOL, tandem_version, seconds, "s",
            better="lower", variant="", seconds=seconds, rows_per_s=2 * t["rows"] / seconds,
            notes=polars_version,
        )  # fmt: skip


if __name__ == "__main__":
    main()
