"""Shared pieces of the tracking benchmarks (stdlib only at import time, so the MLflow venv can
import it too): the workload payloads, the 100,000-run search dataset, and helpers to start and
stop a `tandem server` and a throw-away PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The search every tool runs (A4, A5): the same strings as the shared MLflow adapter.
FILTER = "metrics.acc > 0.5 and params.model = 'x'"
ORDER = "metrics.acc DESC"

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")


# -- A3/A4 payloads -------------------------------------------------------------------------------


def make_run_payloads(
    n: int, seed: int = 42
) -> list[tuple[dict[str, Any], dict[str, float], dict[str, str]]]:
    """(params, metrics, tags) per run: a copy of the shared MLflow adapter's generator, so both
    tools log exactly the same values."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        params = {
            "model": rng.choice("xyzw"),
            "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
            "lr": f"{rng.uniform(1e-4, 1e-1):.5f}",
            "batch_size": rng.choice([32, 64, 128, 256]),
            "epochs": rng.randint(1, 50),
            "dropout": f"{rng.uniform(0, 0.5):.3f}",
            "layers": rng.randint(1, 12),
            "seed": rng.randint(0, 10**6),
            "dataset": rng.choice(["d1", "d2", "d3"]),
            "run_index": i,
        }
        metrics = {
            "acc": rng.random(),
            "loss": rng.uniform(0, 3),
            "f1": rng.random(),
            "precision": rng.random(),
            "recall": rng.random(),
        }
        tags = {
            "team": rng.choice(["a", "b"]),
            "stage": rng.choice(["dev", "prod"]),
            "git_sha": f"{rng.getrandbits(40):010x}",
        }
        out.append((params, metrics, tags))
    return out


def expected_top(rows: list[tuple[int, str, float]], limit: int = 100) -> tuple[int, list[int]]:
    """(number of matches, run indices of the first page) for FILTER ordered by ORDER, from
    (run_index, model, acc) triples."""
    hits = sorted(
        ((acc, index) for index, model, acc in rows if acc > 0.5 and model == "x"), reverse=True
    )
    return len(hits), [index for _, index in hits[:limit]]


# -- A5: 100,000 runs, 1,000 metric keys ----------------------------------------------------------


@dataclass
class SearchDataset:
    """Runs for the big search, in a tool-neutral form. Every run has the metrics `acc` and
    `loss` plus `extra_per_run` of the other keys, 5 params (half the runs have model = 'x')
    and 2 tags; `acc` is uniform in [0, 1)."""

    run_ids: list[str] = field(default_factory=list)
    start_times: list[int] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)
    latest: list[tuple[int, str, float]] = field(default_factory=list)  # (run, key, value)
    params: list[tuple[int, str, str]] = field(default_factory=list)  # (run, key, value)
    tags: list[tuple[int, str, str]] = field(default_factory=list)  # (run, key, value)
    matches: int = 0
    top: list[int] = field(default_factory=list)  # run indices of the expected first page


def make_search_dataset(
    n_runs: int = 100_000, n_keys: int = 1_000, extra_per_run: int = 8, seed: int = 7
) -> SearchDataset:
    rng = random.Random(seed)
    others = [f"k{j:03d}" for j in range(n_keys - 2)]
    data = SearchDataset(metric_names=["acc", "loss", *others])
    base = 1_790_000_000_000
    triples = []
    for i in range(n_runs):
        data.run_ids.append(f"{0xA5 << 120 | i:032x}")
        data.start_times.append(base + i * 1000)
        acc = rng.random()
        model = "x" if rng.random() < 0.5 else rng.choice("yzw")
        triples.append((i, model, acc))
        data.latest.append((i, "acc", acc))
        data.latest.append((i, "loss", rng.uniform(0, 3)))
        for j in rng.sample(range(len(others)), extra_per_run):
            data.latest.append((i, others[j], rng.random()))
        data.params += [
            (i, "model", model),
            (i, "optimizer", rng.choice(["adam", "sgd", "rmsprop"])),
            (i, "lr", f"{rng.uniform(1e-4, 1e-1):.5f}"),
            (i, "batch_size", str(rng.choice([32, 64, 128, 256]))),
            (i, "run_index", str(i)),
        ]
        data.tags += [
            (i, "team", rng.choice(["a", "b"])),
            (i, "stage", rng.choice(["dev", "prod"])),
        ]
    data.matches, data.top = expected_top(triples)
    return data


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}), see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    stop_process_group(proc)
    raise RuntimeError(f"server did not become healthy in {timeout} s, see {log}")


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the process group we started (pgid == proc.pid), wait, then SIGKILL."""

    def alive() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    if alive():
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline:
        proc.poll()
        if not alive():
            return
        time.sleep(0.1)
    if alive():
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class TandemServer:
    """`tandem server` on a loopback port in its own process group, which can be killed with
    SIGKILL and started again on the same port and workspace (the chaos benchmark does)."""

    def __init__(self, home: Path, database_url: str | None = None, *, workers: int = 1) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TANDEM_HOME": str(home)}
        self.env.pop("TANDEM_URL", None)
        if database_url:
            self.env["TANDEM_DATABASE_URL"] = database_url
        else:
            self.env.pop("TANDEM_DATABASE_URL", None)
        self.cmd = [sys.executable, "-m", "tandem.cli.main", "server"]
        self.cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        if workers != 1:
            self.cmd += ["--workers", str(workers)]
        self.log = home / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process (appending to its log); `wait_healthy` waits for it to answer."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self.proc

    def start(self, timeout: float = 120) -> None:
        proc = self.spawn()
        wait_healthy(proc, self.url + "/api/v1/health", self.log, timeout)

    def kill(self) -> None:
        """`kill -9` of the server's process group, as the OOM killer would; reaped."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """A clean stop: SIGTERM, then SIGKILL after a grace period."""
        if self.proc is not None and self.proc.poll() is None:
            stop_process_group(self.proc)


@contextlib.contextmanager
def tandem_server(
    home: Path, database_url: str | None = None, *, workers: int = 1
) -> Iterator[str]:
    """`tandem server` on a free loopback port in its own process group; yields its URL."""
    server = TandemServer(home, database_url, workers=workers)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# -- PostgreSQL -----------------------------------------------------------------------------------


def _admin(server_url: str | None = None) -> Any:
    """An autocommit connection for CREATE/DROP DATABASE: to the database `server_url` (a
    SQLAlchemy URL) names, or to `postgres` on BENCH_PG_*."""
    import psycopg

    if server_url:
        rest = server_url.split("://", 1)[1]  # psycopg wants no SQLAlchemy driver name
        return psycopg.connect(f"postgresql://{rest}", autocommit=True)
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    )


def with_database(url: str, name: str) -> str:
    """`url` (a SQLAlchemy URL) naming the database `name` on the same server instead."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def postgres_database(name: str, server_url: str | None = None) -> Iterator[str]:
    """A fresh database `name` (dropped first if a crashed run left it), dropped afterwards;
    yields its SQLAlchemy URL. It lives on the server `server_url` (a SQLAlchemy URL of any
    database there) names, or on BENCH_PG_*."""
    if not name.startswith(("bench_", "tandem_chaos_")):
        raise ValueError("benchmark databases are named bench_* or tandem_chaos_*")
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        if server_url:
            yield with_database(server_url, name)
        else:
            yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin(server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
