"""Workload B for tandem: `tandem data add` of the 1 GiB folder (48 x 16 MiB + 1 x 256 MiB),
side by side with DVC's adapter and the machine's limit for the same work.

    .venv/bin/python benchmarks/versioning_tandem.py --data /tmp/bench-b/repo/data --cache warm

Each invocation starts from an empty workspace and times, as whole CLI commands (start-up
included, as in DVC's figures):
  startup      `tandem --help`
  first add    `tandem data add big DATA` (read each file once, BLAKE3, write it once into the
               content-addressed store, fsync; then one transaction for the version)
  second add   the same after rewriting one 16 MiB file (the hash cache skips the other 48)
and, in process, the machine's limit for the first add's work: read each byte once, hash it with
BLAKE3 (all cores), write it once into a fresh folder and fsync, 8 MiB at a time.
The changed file is restored from the pristine copy afterwards, as DVC's adapter does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blake3 import blake3

sys.path.insert(0, str(Path(__file__).parent))
from emit import emit
from resident_wait import stop_residents, wait_for_resident

MiB = 1 << 20
CHUNK = 8 * MiB
ROOT = Path(__file__).resolve().parent.parent
TANDEM = str(Path(sys.executable).parent / "tandem")


def list_files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.is_file())


def prepare_cache(paths: list[Path], state: str) -> None:
    """Warm or evict the data, then flush every dirty page, so no step pays for writing back
    what an earlier one wrote (DVC's adapter does not fsync, so it never pays for its own)."""
    buf = bytearray(CHUNK)
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            if state == "cold":
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            else:
                with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
                    while f.readinto(buf):
                        pass
        finally:
            os.close(fd)
    os.sync()


def limit_once(paths: list[Path], out_dir: Path) -> float:
    """Read once, BLAKE3, write once, fsync: the least the first add must do."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    t0 = time.perf_counter()
    for i, p in enumerate(paths):
        hasher = blake3(max_threads=blake3.AUTO)
        with open(p, "rb", buffering=0) as f, open(out_dir / f"{i}", "wb", buffering=0) as out:
            while n := f.readinto(buf):
                hasher.update(view[:n])
                out.write(view[:n])
            os.fsync(out.fileno())
        hasher.hexdigest()
    return time.perf_counter() - t0


def sdk_readd(work: Path, data: Path, changed: Path, pristine: Path, cache: str,
              paths: list[Path]) -> float:  # fmt: skip
    os.environ["TANDEM_DATA_ROOTS"] = str(data.parent)
    from tandem.sdk.client import Client

    client = Client(home=work / ".tandem-sdk")
    client.projects.create("bench")
    client.data.add("big", data, project="bench")
    try:
        with open(changed, "wb") as f:
            f.write(os.urandom(pristine.stat().st_size))
        prepare_cache(paths, cache)
        t0 = time.perf_counter()
        version = client.data.add("big", data, project="bench")
        dt = time.perf_counter() - t0
        assert version.version == 2 and version.created
    finally:
        shutil.copyfile(pristine, changed)
        client.close()
    return dt


def run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([TANDEM, *args], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/bench-b/repo/data")
    ap.add_argument("--cache", choices=["warm", "cold"], default="warm")
    a = ap.parse_args()
    data = Path(a.data)
    paths = list_files(data)
    total = sum(p.stat().st_size for p in paths)
    changed = data / "part-000.bin"
    pristine = data.parent.parent / "pristine-part-000.bin"
    from tandem import __version__ as version

    common = {"variant": a.cache, "bytes": total, "files": len(paths)}
    work = Path(tempfile.mkdtemp(prefix="bench-b-tandem-", dir=data.parent.parent))
    try:
        # A private directory for the resident process (ADR 16): the first command starts
        # it, later ones fork from it; it leaves when the directory goes.
        runtime = work / "run"
        runtime.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")} | {
            "TANDEM_HOME": str(work / ".tandem"),
            "TANDEM_DATA_ROOTS": str(data.parent),
            "TANDEM_PROJECT": "bench",
            "TANDEM_RESIDENT_IDLE": "60",
            "XDG_RUNTIME_DIR": str(runtime),
        }
        startups = (
            ("first command after an install: own process, starts the resident", ["--help"], {}),
            ("resident running: the help it left", ["--help"], {}),
            ("resident running: `tandem version`, a fork of it", ["version"], {}),
            ("after the resident left (idle): the help it left", ["--help"], {}),
            ("own process (TANDEM_RESIDENT=0)", ["--help"], {"TANDEM_RESIDENT": "0"}),
        )
        for variant, args, extra in startups:
            if variant.startswith("after the resident left"):
                stop_residents(runtime)
            dt = run(args, env | extra, work)
            emit("B", "CLI startup", "tandem", version, dt, "s", better="lower", seconds=dt,
                 notes=f"tandem {' '.join(args)} (compare: dvc --version)",
                 variant=f"{a.cache}, {variant}")  # fmt: skip
            wait_for_resident(runtime)
        run(["projects", "create", "bench"], env, work)

        prepare_cache(paths, a.cache)
        dt = run(["data", "add", "big", str(data)], env, work)
        emit("B", f"dvc add 1 GiB, first ({a.cache} cache)", "tandem", version,
             total / MiB / dt, "MiB/s", seconds=dt,
             notes="tandem data add: read once, BLAKE3, write once into the store, fsync",
             **common)  # fmt: skip
        try:
            with open(changed, "wb") as f:
                f.write(os.urandom(pristine.stat().st_size))
            prepare_cache(paths, a.cache)
            dt = run(["data", "add", "big", str(data)], env, work)
            emit("B", f"dvc add after 1 of 49 files changed ({a.cache} cache)", "tandem",
                 version, dt, "s", better="lower", seconds=dt, **common)  # fmt: skip
            with open(changed, "wb") as f:
                f.write(os.urandom(pristine.stat().st_size))
            prepare_cache(paths, a.cache)
            dt = run(["data", "add", "big", str(data)], env | {"TANDEM_RESIDENT": "0"}, work)
            emit("B", f"dvc add after 1 of 49 files changed ({a.cache} cache)", "tandem",
                 version, dt, "s", better="lower", seconds=dt,
                 variant=f"{a.cache}, own process (TANDEM_RESIDENT=0)", bytes=total,
                 files=len(paths))  # fmt: skip
        finally:
            shutil.copyfile(pristine, changed)

        # The same re-add from Python in a warm process (the SDK, embedded): what the work
        # costs without the CLI's start-up (importing FastAPI, SQLAlchemy and the app).
        dt = sdk_readd(work, data, changed, pristine, a.cache, paths)
        emit("B", f"dvc add after 1 of 49 files changed ({a.cache} cache)", "tandem",
             version, dt, "s", better="lower", seconds=dt, variant=f"{a.cache}, SDK in process",
             bytes=total, files=len(paths))  # fmt: skip

        out = work / "limit"
        out.mkdir()
        prepare_cache(paths, a.cache)
        dt = limit_once(paths, out)
        emit("B", f"dvc add 1 GiB, first ({a.cache} cache)", "read+BLAKE3+write+fsync (limit)",
             f"blake3 {blake3.__version__ if hasattr(blake3, '__version__') else ''}",
             total / MiB / dt, "MiB/s", seconds=dt,
             notes="in process: the least work the first add must do", **common)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
