"""(4) Alert delivery latency: from a breach to the project's webhook, through real processes on
loopback (lanes A, C and E):

    PYTHONPATH=src .venv/bin/python benchmarks/monitoring/alert_latency.py [--interval 10s]

A `tandem server` (SQLite, temporary workspace), a `tandem worker --interval I` process on the same
workspace and a webhook receiver (http.server, in this process) on 127.0.0.1, allowed by the
outbound policy (TANDEM_OUTBOUND_ALLOW_HOSTS=127.0.0.1). Project `bench` sends its notifications
to the receiver; alert settings group_by [alertname, endpoint], group_wait 0 s (Alertmanager's
default 30 s would be added to every first notification; it is a setting, not latency).

`--endpoints K` endpoints (default 3), each with a feature-drift monitor over 1-minute windows
against a 100k-row reference dataset (condition `drifted_count >= 1`). 2,000 shifted rows are
logged on endpoint i in minute M0 + i (M0 the next whole minute), so one window breaches per
endpoint, a minute apart (3 samples at different phases of the worker's ticks). A window is
judged once it is due: its end plus the monitoring service's grace (60 s, for gateways' late
batches). Measured per endpoint: the webhook's arrival time (wall clock, this process) minus the
moment the window became due ("after due"; goal <= one interval + 5 s), and minus the window's end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DATA, emit, truth, window_path  # noqa: E402
from monitoring_e2e import BATCH_COLUMNS, _batch_meta, bench_common, inputs_json  # noqa: E402

import tandem  # noqa: E402
from tandem.core.config import Settings  # noqa: E402
from tandem.server.container import Services  # noqa: E402

PROJECT = "bench"
ROWS = 2_000


class Receiver:
    """A webhook receiver on loopback: every POST body with its arrival time."""

    def __init__(self) -> None:
        self.hits: list[tuple[float, str, dict[str, Any]]] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"raw": body.decode(errors="replace")}
                hits.append((arrived, self.path, payload))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def drifted_rows(endpoint: int, minute_ms: int) -> pl.DataFrame:
    t = truth()
    columns = t["numeric"] + t["categorical"]
    frame = pl.read_parquet(window_path(endpoint)).head(ROWS)
    step = 60_000 // ROWS
    return (
        frame.with_row_index("n")
        .select(
            pl.format("ep{}-{}", pl.lit(endpoint), pl.col("n")).alias("request_id"),
            (minute_ms + pl.col("n").cast(pl.Int64) * step).alias("at"),
            *_batch_meta(frame, pl.lit(1)),
            inputs_json(frame, columns, set(t["categorical"])).alias("inputs"),
            pl.lit("[[0.5,0.5]]").alias("output"),
        )
        .select(BATCH_COLUMNS)
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", default="10s", help="the worker's interval (10s, 30s...)")
    ap.add_argument("--endpoints", type=int, default=3)
    a = ap.parse_args()
    interval_s = float(a.interval.rstrip("s"))
    os.environ["TANDEM_OUTBOUND_ALLOW_HOSTS"] = "127.0.0.1"
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-alert-")))
        receiver = Receiver()
        stack.callback(receiver.close)
        hub_home = home / "hub"
        url = stack.enter_context(bench_common().tandem_server(hub_home))
        client = tandem.Client(url, project=PROJECT, home=home / "client")
        stack.callback(client.close)
        client.projects.create(PROJECT)
        endpoints = [f"ep{i}" for i in range(a.endpoints)]
        for name in endpoints:
            client.deployments.create(name, PROJECT)
        client.governance.notifications.set_webhook(receiver.url, project=PROJECT)
        client.alerts.configure(PROJECT, group_by=["alertname", "endpoint"], group_wait="0s")
        reference = home / "reference.parquet"
        pl.read_parquet(DATA / "drift" / "reference.parquet").head(100_000).write_parquet(reference)
        added = client.data.add("reference", reference, project=PROJECT)

        settings = Settings(
            home=hub_home,
            database_url=f"sqlite:///{hub_home / 'tandem.db'}",
            artifacts=str(hub_home / "blobs"),
        )
        services = Services.build(settings)
        stack.callback(services.close)
        from tandem.monitoring.models import MonitorSpec, SignalKind

        grace_s = int(getattr(services.monitoring, "grace_ms", 60_000)) / 1000
        for name in endpoints:
            spec = MonitorSpec(
                name=f"drift-{name}",
                endpoint=name,
                kind=SignalKind.FEATURE_DRIFT,
                window="1m",
                params={"reference": f"reference@v{added.version}"},
                condition="drifted_count >= 1",
            )
            services.monitoring.create(services.owner, PROJECT, spec)
        first_minute = (int(time.time()) // 60 + 1) * 60
        due: dict[str, tuple[float, float]] = {}
        for i, name in enumerate(endpoints):
            start = first_minute + 60 * i
            client.predictions.ship(
                name, drifted_rows(i, start * 1000).to_arrow(), gateway="gw-bench", batch=f"b{i}"
            )
            due[name] = (start + 60.0, start + 60.0 + grace_s)

        log = (home / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli.main", "worker", "--interval", a.interval, "--json"],
            env={**os.environ, "TANDEM_HOME": str(hub_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def stop_worker() -> None:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()

        stack.callback(stop_worker)
        deadline = max(d for _, d in due.values()) + interval_s + 60
        arrivals: dict[str, float] = {}
        print(
            f"waiting until {time.strftime('%H:%M:%S', time.gmtime(deadline))} UTC for "
            f"{len(endpoints)} alerts",
            file=sys.stderr,
        )
        while time.time() < deadline and len(arrivals) < len(endpoints):
            time.sleep(0.2)
            for arrived, _, payload in receiver.hits:
                text = json.dumps(payload)
                for name in endpoints:
                    if name not in arrivals and f"drift-{name}" in text:
                        arrivals[name] = arrived
            if worker.poll() is not None:
                break
        samples: list[dict[str, Any]] = []
        for name in endpoints:
            window_end, due_at = due[name]
            if name in arrivals:
                samples.append(
                    {
                        "endpoint": name,
                        "after_due_s": round(arrivals[name] - due_at, 2),
                        "after_window_end_s": round(arrivals[name] - window_end, 2),
                    }
                )
            else:
                samples.append({"endpoint": name, "after_due_s": None})
            print(f"{name}: {samples[-1]}", file=sys.stderr)
        stop_worker()
        log.close()
        if len(arrivals) < len(endpoints):
            tail = (home / "worker.log").read_text(errors="replace")[-3000:]
            print(f"not every alert arrived; worker log tail:\n{tail}", file=sys.stderr)
            print(f"receiver got: {receiver.hits[:5]}", file=sys.stderr)
        measured = [float(s["after_due_s"]) for s in samples if s["after_due_s"] is not None]
        if not measured:
            return 1
        emit(
            "M4",
            "alert delivery latency, breach to webhook on loopback",
            "tandem",
            version("tandem"),
            max(measured),
            "s",
            seconds=max(measured),
            interval_s=interval_s,
            grace_s=grace_s,
            samples=samples,
            arrived=f"{len(arrivals)}/{len(endpoints)}",
            webhook_posts=len(receiver.hits),
            notes="tandem server + tandem worker processes, SQLite; value = worst of the "
            "samples, seconds after the window became due (end + grace)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
