"""Print one BENCH record per measurement (stdlib only).

The same line protocol as the shared bench harness (`../shared/bench/harness/emit.py`), copied so
the adapters here run without that folder:

    BENCH {"workload": "A", "bench": "A1 log_metric x1", "tool": "tandem", "version": "0.1.0",
           "variant": "embedded", "value": 61234.0, "unit": "points/s", "better": "higher", ...}
"""

from __future__ import annotations

import json
from typing import Any


def emit(
    workload: str,
    bench: str,
    tool: str,
    version: str,
    value: float,
    unit: str,
    better: str = "higher",
    variant: str = "",
    seconds: float | None = None,
    **extra: Any,
) -> None:
    record = dict(
        workload=workload,
        bench=bench,
        tool=tool,
        version=version,
        variant=variant,
        value=value,
        unit=unit,
        better=better,
        seconds=seconds,
        **extra,
    )
    print("BENCH " + json.dumps(record, default=str), flush=True)
