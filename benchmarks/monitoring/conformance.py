"""(5) How many of the alert engine's conformance scenarios pass (the engine's
tests/alerting/test_conformance.py: each scenario cites the Alertmanager/Prometheus sentence it
checks). Runs pytest on that one file (no xdist) with a JUnit report and counts the outcomes:

    PYTHONPATH=src .venv/bin/python benchmarks/monitoring/conformance.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "tests" / "alerting" / "test_conformance.py"


def main() -> int:
    if not FILE.exists():
        print(
            f"conformance pending: {FILE.relative_to(ROOT)} is not on this branch", file=sys.stderr
        )
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(FILE), "-q", "-p", "no:cacheprovider",
             "-p", "no:xdist", f"--junitxml={report}"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - began
        cases = ET.parse(report).getroot().iter("testcase") if report.exists() else iter(())
        outcome: dict[str, Any] = {"passed": 0, "failed": 0, "skipped": 0}
        for case in cases:
            if case.find("failure") is not None or case.find("error") is not None:
                outcome["failed"] += 1
            elif case.find("skipped") is not None:
                outcome["skipped"] += 1
            else:
                outcome["passed"] += 1
    print(done.stdout[-2000:], file=sys.stderr)
    emit(
        "M5", "alert engine conformance scenarios (Alertmanager/Prometheus docs)", "tandem",
        "", outcome["passed"], "scenarios passed", better="higher", seconds=seconds,
        total=sum(outcome.values()), **outcome, pytest_exit=done.returncode,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
