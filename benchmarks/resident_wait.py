"""The benchmarks time CLI commands as users run them: through the resident process (ADR 16).
The first command runs in its own process and starts the resident; wait until it serves."""

from __future__ import annotations

import os
import time
from pathlib import Path


def wait_for_resident(runtime: Path, timeout: float = 60.0) -> None:
    """Return once a resident listens in `runtime` (the XDG_RUNTIME_DIR given to tandem)."""
    folder = runtime / f"tandem-resident-{os.getuid()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and any(folder.glob("*.sock")):
            return
        time.sleep(0.05)
    raise SystemExit(f"no tandem resident process started in {folder}")


def stop_residents(runtime: Path) -> None:
    """Stop the residents serving `runtime` (as if they had been idle long enough to leave)."""
    import signal

    def residents() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            except OSError:
                continue
            if b"tandem.cli.resident" in cmdline and str(runtime).encode() in cmdline:
                found.append(int(entry.name))
        return found

    for pid in residents():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while residents() and time.monotonic() < deadline:
        time.sleep(0.05)
