"""Serving (issue 22): tandem's gateway next to `mlflow models serve`, Ray Serve and a bare FastAPI
app, in one invocation, on the same model file and the same one-row JSON body.

Closed loop: one wrk thread with one connection (one client) on the load core, the server on the
other core (`taskset`), `--seconds` per point after a 2 s warm-up; requests/s, p50, p99. Every
server's answer to the body is checked against the model's own prediction first. Then the
tandem scenarios (tandem_scenarios.py) when this tree has the gateway (`tandem.serving`).
Writes every record to `--json` (and prints BENCH lines), with the ratios the issue sets goals on.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peers
from emit import emit
from loadgen import LOAD_CORE, SERVER_CORE, wrk

HERE = Path(__file__).resolve().parent
RECORDS: list[dict[str, Any]] = []


def record(
    bench: str,
    tool: str,
    version: str,
    value: float,
    unit: str,
    better: str,
    variant: str = "",
    **extra: Any,
) -> None:
    emit("S", bench, tool, version, value, unit, better, variant=variant, **extra)
    RECORDS.append(
        dict(
            bench=bench,
            tool=tool,
            version=version,
            variant=variant,
            value=value,
            unit=unit,
            better=better,
            **extra,
        )
    )


def env_version(env: str, package: str) -> str:
    out = subprocess.run(
        [
            f"{peers.ENV}-{env}/bin/python",
            "-c",
            f"from importlib.metadata import version; print(version({package!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


def closed_loop(
    tool: str, version: str, variant: str, url: str, body: str, seconds: int, **extra: Any
) -> dict[str, Any]:
    load_before = Path("/proc/loadavg").read_text().split()[0]  # the machine is shared: said
    stats = wrk(url, body, seconds=seconds)
    failed = stats["non2xx"] + stats["socket_errors"]
    record(
        "one-row predict, 1 client, closed loop",
        tool,
        version,
        stats["rps"],
        "req/s",
        "higher",
        variant,
        p50_ms=stats.get("p50_ms"),
        p90_ms=stats.get("p90_ms"),
        p99_ms=stats.get("p99_ms"),
        requests=stats["requests"],
        failed=failed,
        seconds=seconds,
        load_before=load_before,
        **extra,
    )
    return stats


def own_predict(folder: Path) -> None:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            SERVER_CORE,
            f"{peers.ENV}-mlflow/bin/python",
            str(HERE / "predict_direct.py"),
            "--folder",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            rec = json.loads(line[6:])
            record(
                rec["bench"],
                rec["tool"],
                rec["version"],
                rec["value"],
                rec["unit"],
                rec["better"],
                rec["variant"],
                p50_ms=rec["p50_ms"],
                p99_ms=rec["p99_ms"],
            )


def measure_peers(
    folder: Path, workdir: Path, body: str, expected: dict[str, Any], seconds: int, which: list[str]
) -> None:
    want = [expected["prediction"]]
    starts = {
        "mlflow": (
            lambda: peers.mlflow_serve(folder, workdir, body),
            "mlflow models serve",
            env_version("mlflow", "mlflow"),
            "1 worker, env-manager local",
        ),
        "rayserve": (
            lambda: peers.ray_serve(folder, workdir, body),
            "Ray Serve",
            env_version("rayserve", "ray"),
            "local, 1 replica",
        ),
        "rayserve-unpinned": (
            lambda: peers.ray_serve(folder, workdir, body, pin=False),
            "Ray Serve",
            env_version("rayserve", "ray"),
            "local, 1 replica, unpinned (both cores)",
        ),
        "fastapi": (
            lambda: peers.fastapi_constant(workdir, body),
            "FastAPI constant",
            env_version("fastapi", "fastapi"),
            "parses the body, no model",
        ),
    }
    for name in which:
        start, tool, version, variant = starts[name]
        with start() as (server, answer):
            got = peers.predictions(answer)
            correct = name == "fastapi" or got == want
            if not correct:
                print(f"{tool}: answered {got}, expected {want}", file=sys.stderr)
            closed_loop(tool, version, variant, server.url, body, seconds, correct=correct)


def ratios() -> dict[str, Any]:
    """The goals' ratios from the closed-loop records, for tandem end to end and for its data
    plane alone."""

    def find(tool: str, variant: str | None = None) -> dict[str, Any] | None:
        for rec in RECORDS:
            same = rec["bench"].startswith("one-row predict") and rec["tool"] == tool
            pinned = "unpinned" not in rec["variant"]  # the goals compare like with like
            if same and pinned and (variant is None or rec["variant"] == variant):
                return rec
        return None

    out: dict[str, Any] = {}
    for tool in ("tandem", "tandem (data plane, no hub)"):
        single = find(tool, "single deployment")
        if single is None:
            continue
        for peer, goal in (
            ("mlflow models serve", 5),
            ("Ray Serve", 8),
            ("FastAPI constant", None),
        ):
            other = find(peer)
            if other and other["value"]:
                out[f"{tool} / {peer}, req/s"] = {
                    "ratio": single["value"] / other["value"],
                    "goal": goal,
                }
        out[f"{tool}: single p99 ms"] = {"value": single["p99_ms"], "goal": 5.0}
        canary, shadow = find(tool, "90/10 canary, logging"), find(tool, "100% shadow")
        if canary:
            delta = canary["p50_ms"] - single["p50_ms"]
            out[f"{tool}: canary p50 delta ms"] = {"value": delta, "goal": 0.3}
        if shadow:
            delta = shadow["p99_ms"] - single["p99_ms"]
            out[f"{tool}: shadow p99 delta ms"] = {"value": delta, "goal": 1.0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="make_model.py's --out")
    ap.add_argument("--seconds", type=int, default=10, help="per closed-loop point")
    ap.add_argument("--peers", default="mlflow,rayserve,rayserve-unpinned,fastapi")
    ap.add_argument("--no-tandem", action="store_true")
    ap.add_argument("--tandem-parts", default="dataplane,e2e", help="dataplane, e2e or both")
    ap.add_argument("--json", type=Path, required=True)
    a = ap.parse_args()
    body = (a.folder / "body.json").read_text()
    expected = json.loads((a.folder / "expected.json").read_text())
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-", dir="/tmp"))
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    notes: list[str] = []
    own_predict(a.folder)
    measure_peers(
        a.folder, workdir, body, expected, a.seconds, [p for p in a.peers.split(",") if p]
    )
    if a.no_tandem:
        notes.append("tandem not measured (--no-tandem)")
    elif importlib.util.find_spec("tandem.serving") is None:
        notes.append("tandem not measured: this tree has no tandem.serving (the gateway) yet")
    else:
        import tandem_scenarios

        parts = tuple(p for p in a.tandem_parts.split(",") if p)
        notes += tandem_scenarios.run_all(
            a.folder, workdir, body, expected, a.seconds, record, parts=parts
        )
    result = {
        "started": started,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            "cores": os.cpu_count(),
            "load_core": LOAD_CORE,
            "server_core": SERVER_CORE,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        },
        "model": expected,
        "body": json.loads(body),
        "seconds_per_point": a.seconds,
        "records": RECORDS,
        "ratios": ratios(),
        "notes": notes,
        "logs": str(workdir),
    }
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({"ratios": result["ratios"], "notes": notes}, indent=1, default=str))


if __name__ == "__main__":
    main()
