"""Workload E for tandem: `tandem run` on the shared 50-stage / 10,000-dependency project.

    .venv/bin/python benchmarks/pipeline_tandem.py --repo /tmp/bench-e --work /tmp/bench-e-tandem

The DVC project the shared `make_project.py` made is copied once to `--work` (data, stage.py,
and dvc.yaml as tandem.yaml: the same keys), with its own embedded workspace, and run once to
fill tandem.lock and the stage runs. Then, as the DVC adapter does:
  no-op      `tandem run` when nothing changed (verified: every stage up to date, none ran)
  one dep    `tandem run` after rewriting one 4 KiB dependency of s17 (verified: only s17 ran)
Both are the CLI in a fresh process, start-up included: first as users run it, through the
resident process (ADR 16; started before the timings by `tandem version`, as it is for every
command after the first in ten minutes), then in its own process (`TANDEM_RESIDENT=0`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from emit import emit
from resident_wait import wait_for_resident

from tandem import __version__

STAGES, FILES_PER_STAGE, FILE_SIZE = 50, 200, 4096
CHANGED = (17, 123)
TANDEM = str(Path(sys.executable).with_name("tandem"))


def prepare(repo: Path, work: Path) -> None:
    if (work / "tandem.lock").is_file():
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(repo / "data", work / "data")
    shutil.copy(repo / "stage.py", work / "stage.py")
    (work / "out").mkdir()
    (work / "tandem.yaml").write_text("project: bench-e\n" + (repo / "dvc.yaml").read_text())
    env = _env(work)
    subprocess.run(
        [TANDEM, "projects", "create", "bench-e"],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
    )
    t0 = time.perf_counter()
    subprocess.run([TANDEM, "run", "-j", "2"], env=env, cwd=work, check=True, capture_output=True)
    print(f"populated {work}: first tandem run {time.perf_counter() - t0:.1f} s", file=sys.stderr)


RUNTIME = Path("/tmp/bench-e-run")  # the resident's socket folder (XDG_RUNTIME_DIR)


def _env(work: Path, *, resident: bool = True) -> dict[str, str]:
    return dict(
        os.environ,
        TANDEM_HOME=str(work / ".tandem"),
        TANDEM_URL="",
        TANDEM_PROJECT="",
        TANDEM_RESIDENT="1" if resident else "0",
        TANDEM_RESIDENT_IDLE="120",
        XDG_RUNTIME_DIR=str(RUNTIME),
    )


def run(work: Path, *, resident: bool) -> tuple[float, list[str], int]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [TANDEM, "run", "--json"],
        env=_env(work, resident=resident),
        cwd=work,
        capture_output=True,
        text=True,
    )
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"tandem run failed: {p.stderr[-2000:]}")
    stages = json.loads(p.stdout)["stages"]
    ran = [s["stage"] for s in stages if s["status"] == "ran"]
    return dt, ran, sum(s["status"] == "up-to-date" for s in stages)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default="/tmp/bench-e")
    ap.add_argument("--work", default="/tmp/bench-e-tandem")
    a = ap.parse_args()
    work = Path(a.work)
    prepare(Path(a.repo), work)
    common = {"stages": STAGES, "deps": STAGES * FILES_PER_STAGE}
    RUNTIME.mkdir(mode=0o700, exist_ok=True)
    subprocess.run([TANDEM, "version"], env=_env(work), check=True, capture_output=True)
    wait_for_resident(RUNTIME)
    for resident in (True, False):
        variant = "resident process" if resident else "own process (TANDEM_RESIDENT=0)"
        dt, ran, fresh = run(work, resident=resident)
        verified = ran == [] and fresh == STAGES
        record(
            "pipeline re-run, nothing changed (50 stages, 10k deps)",
            dt,
            variant,
            verified=verified,
            **common,
        )
        s, i = CHANGED
        with open(work / "data" / f"s{s:02d}" / f"f{i:03d}.bin", "wb") as f:
            f.write(os.urandom(FILE_SIZE))
        dt, ran, _ = run(work, resident=resident)
        record(
            "pipeline re-run, 1 dependency file changed",
            dt,
            variant,
            verified=ran == [f"s{s:02d}"],
            stages_run=ran,
            **common,
        )


def record(bench: str, dt: float, variant: str, **extra: object) -> None:
    emit(
        "E",
        bench,
        "tandem run",
        __version__,
        dt,
        "s",
        better="lower",
        seconds=dt,
        variant=variant,
        **extra,
    )


if __name__ == "__main__":
    main()
