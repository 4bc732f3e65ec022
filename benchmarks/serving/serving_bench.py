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
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import peers
import tandem_scenarios
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


PEERS = {  # name -> (tool, venv, package, variant)
    "mlflow": ("mlflow models serve", "mlflow", "mlflow", "1 worker, env-manager local"),
    "rayserve": ("Ray Serve", "rayserve", "ray", "local, 1 replica"),
    "rayserve-unpinned": (
        "Ray Serve", "rayserve", "ray", "local, 1 replica, unpinned (both cores)",
    ),
    "fastapi": ("FastAPI constant", "fastapi", "fastapi", "parses the body, no model"),
}  # fmt: skip


def measure_peer(
    name: str, folder: Path, workdir: Path, body: str, expected: dict[str, Any], seconds: int,
    **extra: Any,
) -> None:  # fmt: skip
    """Start one peer, check its answer, one closed-loop point, stop it."""
    starts = {
        "mlflow": lambda: peers.mlflow_serve(folder, workdir, body),
        "rayserve": lambda: peers.ray_serve(folder, workdir, body),
        "rayserve-unpinned": lambda: peers.ray_serve(folder, workdir, body, pin=False),
        "fastapi": lambda: peers.fastapi_constant(workdir, body),
    }
    tool, venv, package, variant = PEERS[name]
    with starts[name]() as (server, answer):
        got, want = peers.predictions(answer), [expected["prediction"]]
        correct = name == "fastapi" or got == want
        if not correct:
            print(f"{tool}: answered {got}, expected {want}", file=sys.stderr)
        closed_loop(tool, env_version(venv, package), variant, server.url, body, seconds,
                    correct=correct, **extra)  # fmt: skip


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ratios() -> dict[str, Any]:
    """The goals' ratios from the closed-loop records (medians over the rounds), for tandem end
    to end and for its data plane alone."""

    def find(tool: str, variant: str | None = None) -> dict[str, Any] | None:
        found = [
            rec for rec in RECORDS
            if rec["bench"].startswith("one-row predict") and rec["tool"] == tool
            and "unpinned" not in rec["variant"]  # the goals compare like with like
            and (variant is None or rec["variant"] == variant)
        ]  # fmt: skip
        if not found:
            return None
        return {
            key: median([rec[key] for rec in found if rec.get(key) is not None])
            for key in ("value", "p50_ms", "p99_ms")
        } | {"n": len(found)}

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
                    "ratio": single["value"] / other["value"], "goal": goal,
                    "rounds": min(single["n"], other["n"]),
                }  # fmt: skip
        out[f"{tool}: single p99 ms"] = {"value": single["p99_ms"], "goal": 5.0}
        # back to back: the single deployment with the same logging, then the canary, the shadow
        base = find(tool, "single deployment, logging") or single
        canary, shadow = find(tool, "90/10 canary, logging"), find(tool, "100% shadow")
        if canary:
            out[f"{tool}: canary p50 delta ms"] = {
                "value": canary["p50_ms"] - base["p50_ms"], "goal": 0.3,
                "against": "single deployment, logging" if base is not single else "single",
            }  # fmt: skip
        if shadow:
            out[f"{tool}: shadow p99 delta ms"] = {
                "value": shadow["p99_ms"] - base["p99_ms"], "goal": 1.0,
            }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, required=True, help="make_model.py's --out")
    ap.add_argument("--seconds", type=int, default=10, help="per closed-loop point")
    ap.add_argument("--rounds", type=int, default=3, help="closed-loop rounds over the servers")
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
    parts = tuple(p for p in a.tandem_parts.split(",") if p) if not a.no_tandem else ()
    only = tuple(p.split(":", 1)[1] for p in parts if p.startswith("e2e:"))
    want_e2e = any(p == "e2e" or p.startswith("e2e:") for p in parts)
    world = None
    if want_e2e and not tandem_scenarios.e2e_available():
        notes.append("tandem end to end not measured: this tree has no tandem serve / hub side")
    elif want_e2e:
        model = tandem_scenarios.prepare_model(a.folder, workdir)
        world = tandem_scenarios.World(a.folder, model, workdir, body)
        try:
            world.start()
        except Exception as exc:
            notes.append(f"tandem end to end not measured: {type(exc).__name__}: {exc}")
            world.stop()
            world = None
    try:
        # Rounds in rotating order, so a busy minute of the shared machine does not fall on one
        # server only; the tandem gateway and its hub stay up (idle) while the peers run.
        names = [p for p in a.peers.split(",") if p] + (["tandem"] if world else [])
        for round_ in range(a.rounds if names else 0):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                try:
                    if name == "tandem":
                        tandem_scenarios.single_point(world, record, a.seconds, round=round_)
                    else:
                        measure_peer(
                            name, a.folder, workdir, body, expected, a.seconds, round=round_
                        )
                except Exception as exc:  # say it, measure the rest
                    notes.append(f"{name}, round {round_}: {type(exc).__name__}: {exc}")
                    print(notes[-1], file=sys.stderr, flush=True)
        if world is not None:
            notes += tandem_scenarios.run_end_to_end(world, body, a.seconds, record, only)
    finally:
        if world is not None:
            world.stop()
    if "dataplane" in parts and tandem_scenarios.data_plane_available():
        model = tandem_scenarios.prepare_model(a.folder, workdir)
        tandem_scenarios.run_data_plane(model, workdir, body, expected, a.seconds, record)
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
