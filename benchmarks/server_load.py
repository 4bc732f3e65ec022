"""Server load: `tandem server` hammered with small logging requests by `wrk`.

Starts `tandem server` (SQLite, or a fresh PostgreSQL database `bench_load`), creates one run
(or `--runs N`, requests then go round-robin over them), then `wrk` POSTs
`/api/v1/runs/{id}/batch` for `--duration` seconds on `--connections` keep-alive connections.
Each request carries `--points` metric points (5 keys, one step) and a distinct `batch_id`, as
the SDK's background shipper sends them, so every request is a real write transaction (claim
the batch id, append points, move latest values). Reports requests/s and the p99 latency from
`wrk --latency`, checks every request got a 2xx, and reads the metrics back to check that every
acknowledged point is stored.

Needs `wrk` (apt-get install wrk). On this 2-core machine wrk shares the cores with the server.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from common import postgres_database, tandem_server
from emit import emit

import tandem

LUA = """
local counter = 0
local prefix = "wrk"
local keys = {KEYS}
local paths = {PATHS}

function setup(thread)
  thread:set("prefix", "t" .. tostring(math.random(1, 1000000000)))
end

function init(args)
  prefix = prefix .. "-" .. tostring(os.time())
end

request = function()
  counter = counter + 1
  local values, steps = {}, {}
  for i = 1, #keys do
    values[i] = string.format("%.4f", (counter * 7 + i) % 1000 / 1000)
    steps[i] = tostring(counter)
  end
  local body = string.format(
    '{"batch_id":"%s-%d","metrics":{"key":["%s"],"value":[%s],"step":[%s]}}',
    prefix, counter, table.concat(keys, '","'), table.concat(values, ","), table.concat(steps, ","))
  local path = paths[(counter % #paths) + 1]
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
"""

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, total requests, non-2xx count and latency percentiles (ms) from wrk."""
    out: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors:.*", text)
    out["socket_errors"] = float(sum(int(x) for x in re.findall(r"\d+", m.group(0)))) if m else 0
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out[f"p{pct}_ms"] = float(value) * UNITS[unit]
    return out


def stored_points(client: tandem.Client, run_ids: list[str]) -> int:
    """Requests applied so far: each stores one point of key k0."""
    return sum(len(client.runs.metric_history(run_id, "k0").step) for run_id in run_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--points", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1, help="spread requests over this many runs")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-tandem-", dir="/tmp"))
    try:
        with ExitStack() as stack:
            db_url = None
            if a.db == "postgres":
                db_url = stack.enter_context(postgres_database("bench_load"))
            url = stack.enter_context(tandem_server(workdir / "server", db_url, workers=a.workers))
            client = stack.enter_context(tandem.Client(url))
            run_ids = [client.runs.create("load").id for _ in range(a.runs)]
            keys = ", ".join(f'"k{i}"' for i in range(a.points))
            paths = ", ".join(f'"/api/v1/runs/{run_id}/batch"' for run_id in run_ids)
            script = workdir / "batch.lua"
            script.write_text(
                LUA.replace("{KEYS}", "{" + keys + "}").replace("{PATHS}", "{" + paths + "}")
            )
            # Warm-up: open the pools and the run's pages; not measured.
            subprocess.run(
                ["wrk", "-t1", "-c4", "-d2s", "-s", str(script), url],
                check=True,
                capture_output=True,
            )
            warm = stored_points(client, run_ids)
            cmd = [
                "wrk",
                f"-t{a.threads}",
                f"-c{a.connections}",
                f"-d{a.duration}s",
                "--latency",
                "-s",
                str(script),
                url,
            ]
            result = subprocess.run(cmd, check=True, capture_output=True, text=True)
            print(result.stdout, flush=True)
            stats = parse_wrk(result.stdout)
            time.sleep(0.5)  # requests wrk abandoned at the deadline may still be committing
            stored = stored_points(client, run_ids) - warm
            ok_requests = stats["requests"] - stats["non2xx"]
            ok = stats["non2xx"] == 0 and stored >= ok_requests
            variant = f"{a.db}, {a.workers} worker{'s' if a.workers > 1 else ''}"
            common = {
                "variant": variant,
                "seconds": float(a.duration),
                "verified": ok,
                "connections": a.connections,
                "points_per_request": a.points,
                "requests": int(stats["requests"]),
                "non2xx": int(stats["non2xx"]),
                "socket_errors": int(stats["socket_errors"]),
                "stored_requests": stored,
                "p50_ms": stats.get("p50_ms"),
                "p99_ms": stats.get("p99_ms"),
            }
            runs = "1 run" if a.runs == 1 else f"{a.runs} runs"
            bench = f"server: POST /runs/{{id}}/batch, {a.points} points, {runs}, c={a.connections}"
            version = tandem.__version__
            emit(
                "L",
                bench + " (throughput)",
                "tandem",
                version,
                stats["rps"],
                "req/s",
                notes=f"wrk {a.duration} s, distinct batch ids",
                **common,
            )
            emit(
                "L",
                bench + " (p99 latency)",
                "tandem",
                version,
                stats.get("p99_ms", 0.0),
                "ms",
                better="lower",
                **common,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
