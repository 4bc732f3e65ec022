"""Durability under `kill -9`: writers log through a real `tandem server` that is killed again
and again; every point a writer saw acknowledged must be stored exactly once.

Starts `tandem server` on a free loopback port with a workspace in a temporary folder (SQLite,
or a fresh PostgreSQL database `tandem_chaos_<pid>` that is dropped afterwards). `--writers`
threads each own a run and log batches of `--points` points to it with the SDK
(`client.runs.log_batch(..., batch_id=...)`), as the SDK's shipper does: each batch has its own
id, and a batch that fails to reach the server (connection refused or cut off, 5xx) is sent
again under the same id until it is acknowledged (2xx), so an applied-but-unacknowledged batch
is not applied twice. A point is *acknowledged* when its request got a 2xx.

Meanwhile the server is killed with SIGKILL `--kills` times, each time at a random moment
(uniform in [0, `--max-uptime`] s after it acknowledged its first write since it started), and
started again at once on the same port and workspace. After the last kill the writers finish
their batch in hand, the server is stopped cleanly, started once more, and everything is read
back through the API: lost (acknowledged, missing or with another value) and duplicated points
must both be 0. Recovery time is measured per kill to the server answering /health again and
to the first acknowledged write after the kill.

Every wait is bounded (`--max-seconds` for the whole kill phase: kills not done by then are
reported, not run). Exit status 1 when anything is lost or duplicated, a writer got an error it
must not retry, or a kill was not followed by an acknowledged write.

    python benchmarks/chaos.py --database sqlite --kills 200 --writers 32 --seed 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import TandemServer, postgres_database

import tandem
from tandem import errors

WAIT = 120.0  # seconds any one wait may take (a start, a first write, a writer's batch)


def value_of(writer: int, step: int) -> float:
    """The value writer `writer` logs at `step`: tells writers and steps apart."""
    return writer * 1_000_000.0 + step * 0.5


class Acks:
    """When the first write after a mark (a kill) was acknowledged. Only requests sent after
    the mark count: a request sent before a kill may be answered by the server just killed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mark = 0.0
        self.first: float | None = None
        self.count = 0

    def arm(self, mark: float) -> None:
        with self.lock:
            self.mark, self.first = mark, None

    def record(self, sent: float, acked: float) -> None:
        with self.lock:
            self.count += 1
            if sent > self.mark and (self.first is None or acked < self.first):
                self.first = acked

    def wait_first(self, deadline: float, give_up: threading.Event) -> float | None:
        while time.monotonic() < deadline and not give_up.is_set():
            with self.lock:
                if self.first is not None:
                    return self.first
            time.sleep(0.005)
        return None


@dataclass
class Writer:
    """One writer thread: logs batches of `points` to its own run, retrying each batch under
    its id until acknowledged."""

    index: int
    url: str
    run_id: str
    points: int
    stop: threading.Event
    acks: Acks
    failed: threading.Event  # set when any writer stops on an error
    deadline: float  # monotonic; a batch not acknowledged by then is given up
    acked_steps: int = 0  # steps 0 .. acked_steps - 1 were acknowledged
    batches: int = 0
    retries: int = 0  # sends after a failed one
    replayed: int = 0  # retries the server answered "applied before" (applied, not acked)
    error: str | None = None

    @property
    def key(self) -> str:
        return f"w{self.index:03d}"

    def run(self) -> None:
        try:
            with tandem.Client(self.url, timeout=30.0) as client:
                while not self.stop.is_set() and time.monotonic() < self.deadline:
                    if not self._send(client):
                        return
        except Exception as exc:  # reported, and the run fails
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self.error:
                self.failed.set()

    def _send(self, client: tandem.Client) -> bool:
        """Send the next batch until it is acknowledged; False when given up."""
        first = self.acked_steps
        steps = list(range(first, first + self.points))
        columns = {
            "key": [self.key] * self.points,
            "value": [value_of(self.index, step) for step in steps],
            "step": steps,
            "timestamp": [1_700_000_000_000 + step for step in steps],
        }
        batch_id = f"chaos-{self.index}-{self.batches}"
        pause = 0.02
        attempt = 0
        while time.monotonic() < self.deadline:
            sent = time.monotonic()
            try:
                result = client.runs.log_batch(self.run_id, metrics=columns, batch_id=batch_id)
            except (errors.TransportError, errors.ServerError):
                # The server is down, or died mid-request: the same batch again, same id.
                attempt += 1
                self.retries += 1
                time.sleep(pause)
                pause = min(pause * 2, 0.25)
                continue
            except errors.TandemError as exc:
                self.error = f"batch {batch_id}: {type(exc).__name__}: {exc}"
                return False
            self.acks.record(sent, time.monotonic())
            if attempt and not result.applied:
                self.replayed += 1
            elif not result.applied:
                self.error = f"batch {batch_id}: first send answered 'applied before'"
                return False
            self.acked_steps += self.points
            self.batches += 1
            return True
        self.error = f"batch {batch_id} not acknowledged by the deadline"
        return False


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/v1/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


class Chaos:
    def __init__(self, args: argparse.Namespace, server: TandemServer) -> None:
        self.args = args
        self.server = server
        self.rng = random.Random(args.seed)
        self.commit = commit()  # now: the code may change while a long run goes on
        self.stop = threading.Event()
        self.failed = threading.Event()
        self.acks = Acks()
        self.writers: list[Writer] = []
        self.kills: list[dict[str, float | None]] = []

    def kill_and_restart(self) -> bool:
        """Kill the server (which has taken writes) at a random moment, start it again; False
        when it did not come back or took no write."""
        time.sleep(self.rng.uniform(0, self.args.max_uptime))
        self.server.kill()
        killed = time.monotonic()
        self.acks.arm(killed)
        proc = self.server.spawn()
        deadline = killed + WAIT
        health: float | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            if healthy(self.server.url):
                health = time.monotonic()
                break
            time.sleep(0.01)
        write = self.acks.wait_first(deadline, self.failed) if health is not None else None
        self.kills.append({"killed": killed, "health": health, "write": write})
        return write is not None

    def run(self) -> dict[str, Any]:
        a = self.args
        began = time.monotonic()
        with tandem.Client(self.server.url) as client:
            run_ids = [client.runs.create("chaos").id for _ in range(a.writers)]
        end_by = began + a.max_seconds
        for i, run_id in enumerate(run_ids):
            writer = Writer(
                i,
                self.server.url,
                run_id,
                a.points,
                self.stop,
                self.acks,
                self.failed,
                end_by + WAIT,
            )
            self.writers.append(writer)
        threads = [threading.Thread(target=w.run, daemon=True) for w in self.writers]
        self.acks.arm(began)
        for thread in threads:
            thread.start()
        broken = False
        try:
            if self.acks.wait_first(began + WAIT, self.failed) is None:
                broken = True
            while not broken and len(self.kills) < a.kills and time.monotonic() < end_by:
                broken = not self.kill_and_restart()
                if len(self.kills) % 10 == 0:  # progress, for the long runs
                    took = time.monotonic() - began
                    line = f"{len(self.kills)} kills, {self.acks.count} batches acked, {took:.0f} s"
                    print(line, file=sys.stderr, flush=True)
            # The last restart took writes; let them run a moment, then drain and stop cleanly.
            if not broken:
                time.sleep(self.rng.uniform(0, a.max_uptime))
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(WAIT)
        kill_phase = time.monotonic() - began
        self.server.stop()
        self.server.start()
        with tandem.Client(self.server.url, timeout=120.0) as client:
            verdict = verify(client, self.writers)
        self.server.stop()
        to_health = [k["health"] - k["killed"] for k in self.kills if k["health"] and k["killed"]]
        to_write = [k["write"] - k["killed"] for k in self.kills if k["write"] and k["killed"]]
        hung = sum(thread.is_alive() for thread in threads)
        writer_errors = [w.error for w in self.writers if w.error]
        report = {
            "database": a.database,
            "database_name": a.database_name,
            "kills": len(self.kills),
            "kills_requested": a.kills,
            "writers": a.writers,
            "points_per_batch": a.points,
            "seed": a.seed,
            "commit": self.commit,
            **verdict,
            "batches": sum(w.batches for w in self.writers),
            "retries": sum(w.retries for w in self.writers),
            "replayed": sum(w.replayed for w in self.writers),
            "kills_without_write_after": len(self.kills) - len(to_write),
            "broken": broken,
            "recovery_to_health_s": summary(to_health),
            "recovery_to_first_write_s": summary(to_write),
            "kill_phase_s": round(kill_phase, 1),
            "writer_errors": writer_errors[:5],
            "writers_hung": hung,
        }
        report["ok"] = (
            report["lost"] == 0
            and report["duplicates"] == 0
            and report["acknowledged"] > 0
            and report["kills_without_write_after"] == 0
            and not broken
            and not writer_errors
            and not hung
        )
        return report


def verify(client: tandem.Client, writers: list[Writer]) -> dict[str, int]:
    """Every acknowledged point stored once with its value; nothing stored twice."""
    acknowledged = lost = duplicates = unacknowledged = 0
    for w in writers:
        history = client.runs.metric_history(w.run_id, w.key)
        counts = Counter(history.step)
        values = dict(zip(history.step, history.value, strict=True))
        duplicates += sum(n - 1 for n in counts.values())
        acknowledged += w.acked_steps
        for step in range(w.acked_steps):
            if counts[step] == 0 or values[step] != value_of(w.index, step):
                lost += 1
        # Only the batch in hand when a writer gave up can be applied and unacknowledged.
        unacknowledged += sum(1 for step in counts if step >= w.acked_steps)
    return {
        "acknowledged": acknowledged,
        "lost": lost,
        "duplicates": duplicates,
        "stored_unacknowledged": unacknowledged,
    }


def commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument(
        "--database-url",
        default=os.environ.get("TANDEM_TEST_DATABASE_URL"),
        help="PostgreSQL server to create tandem_chaos_<pid> on (a SQLAlchemy URL of any "
        "database there; default TANDEM_TEST_DATABASE_URL)",
    )
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--writers", type=int, default=32)
    ap.add_argument("--points", type=int, default=10, help="points per batch")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument(
        "--max-uptime", type=float, default=1.5, help="kill within this many s of a first write"
    )
    ap.add_argument(
        "--max-seconds", type=float, default=3600, help="bound on the kill phase; then stop"
    )
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    if a.database == "postgres" and not a.database_url:
        ap.error("--database postgres needs --database-url or TANDEM_TEST_DATABASE_URL")
    if a.kills < 0 or a.writers < 1 or a.points < 1:
        ap.error("--kills must be >= 0, --writers and --points >= 1")
    return a


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the run through its `finally` blocks: the server stopped, the temporary
    folder and the PostgreSQL database removed."""
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    a.database_name = None
    workdir = Path(tempfile.mkdtemp(prefix="tandem-chaos-"))
    # The writers are remote clients: keep whatever workspace this shell points at out of it.
    for key in [k for k in os.environ if k.startswith("TANDEM_")]:
        del os.environ[key]
    os.environ["TANDEM_HOME"] = str(workdir / "client")
    try:
        with ExitStack() as stack:
            db_url = None
            if a.database == "postgres":
                a.database_name = f"tandem_chaos_{os.getpid()}"
                db_url = stack.enter_context(postgres_database(a.database_name, a.database_url))
            server = TandemServer(workdir / "server", db_url)
            stack.callback(server.stop)
            server.start()
            report = Chaos(a, server).run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if a.json:
        print(json.dumps(report), flush=True)
    else:
        for key, value in report.items():
            print(f"{key:28} {value}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
