"""Eight processes at once, for real: to one run, or each to its own run of one project, on the
embedded workspace (concurrent writers to the same database) and against one `tandem server`.
Nothing may be lost or doubled, and a param keeps exactly one value."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.tracking.models import RunStatus

pytestmark = pytest.mark.slow

WORKERS = 8
POINTS = 5_000  # per worker and key
DEADLINE = 90.0

# Attaches to a shared run; once told to go, logs points under its own key and under a shared
# key at its own steps, and a tag.
ATTACHED = """
import sys
from tandem.sdk.client import Client

run_id, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Client()
run = client.attach_run(run_id)
print("ready", flush=True)
sys.stdin.readline()
with run:
    for i in range(n):
        run.log_metric(f"own{k}", float(i), step=i)
        run.log_metric("shared", float(k * n + i), step=k * n + i)
    run.set_tags({f"worker{k}": "done"})
print("done", flush=True)
"""

# Attaches to a shared run; once told to go, races the others, round after round, to log a
# param with the same value as everyone (fine) and one with a value of its own (one may win).
PARAMS = """
import json, sys
from tandem import errors
from tandem.sdk.client import Client

run_id, k, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Client()
run = client.attach_run(run_id)
print("ready", flush=True)
sys.stdin.readline()
outcome = {}
with run:
    for j in range(rounds):
        for key, value in ((f"dataset{j}", "v1"), (f"lr{j}", str(k))):
            try:
                run.log_params({key: value})
                outcome[key] = "ok"
            except errors.Conflict:
                outcome[key] = "conflict"
            except errors.TandemError as exc:
                outcome[key] = f"{type(exc).__name__}: {exc}"
print("done", json.dumps(outcome), flush=True)
"""

# Once told to go, starts (and ends) one run in each of a series of projects that do not exist
# yet, racing the others to create each of them.
FIRST_RUNS = """
import json, sys
from tandem.sdk.client import Client

prefix, rounds = sys.argv[1], int(sys.argv[2])
client = Client()
print("ready", flush=True)
sys.stdin.readline()
ids = []
for j in range(rounds):
    with client.start_run(f"{prefix}-{j}", capture_environment=False) as run:
        ids.append(run.id)
print("done", json.dumps(ids), flush=True)
"""

# Starts a run of its own, once told to go.
OWN_RUN = """
import sys
from tandem.sdk.client import Client

project, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Client()
print("ready", flush=True)
sys.stdin.readline()
with client.start_run(project, f"worker-{k}", params={"k": k}) as run:
    for i in range(n):
        run.log_metric("loss", k + i / n, step=i)
    run.set_tags({"worker": str(k)})
print("done", run.id, flush=True)
"""


class Worker:
    """A Python subprocess; a thread reads its stdout so that every wait can time out."""

    def __init__(self, code: str, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args] if not code else [sys.executable, "-c", code, *args],
            env=env,
            cwd=log_path.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word: str) -> str:
        """The rest of the next stdout line, which must start with `word`."""
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no {word!r} within {DEADLINE}s\n{self.stderr()}") from None
        if line is None or not line.startswith(word):
            raise AssertionError(f"expected {word!r}, got {line!r}\n{self.stderr()}")
        return line[len(word) :].strip()

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.proc.poll() is None:
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()


class Workers:
    """Every process a test starts; all are killed when the test ends, pass or fail."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.started: list[Worker] = []

    def start(self, code: str, *args: str, **env: str) -> Worker:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        worker = Worker(code, list(args), {**self.env, **env}, log)
        self.started.append(worker)
        return worker

    def all_at_once(self, workers: list[Worker]) -> list[str]:
        """Wait until every worker is ready, let them all go at once; what each says when done."""
        for worker in workers:
            worker.expect("ready")
        for worker in workers:
            worker.go()
        results = [worker.expect("done") for worker in workers]
        for worker in workers:
            assert worker.proc.wait(DEADLINE) == 0, worker.stderr()
        return results

    def close(self) -> None:
        for worker in self.started:
            worker.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def workers(tmp_path: Path, settings: Settings) -> Iterator[Workers]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_HOME=str(settings.home),
        TANDEM_DATABASE_URL=settings.database_url,
        TANDEM_ARTIFACTS=settings.artifacts,
    )
    running = Workers(tmp_path, env)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(params=["embedded", "server"])
def target(request: pytest.FixtureRequest, workers: Workers) -> dict[str, str]:
    """The extra environment of the workers: none (the embedded workspace, every process
    writing to the same database) or TANDEM_URL of one `tandem server` process."""
    if request.param == "embedded":
        return {}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "tandem.cli.main", "server", "--host", "127.0.0.1", "--port", str(port)]
    server = workers.start("", *args)
    deadline = time.monotonic() + DEADLINE
    while True:
        if server.proc.poll() is not None:
            raise AssertionError(f"tandem server exited\n{server.stderr()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return {"TANDEM_URL": url}
        if time.monotonic() > deadline:
            raise AssertionError(f"tandem server did not start\n{server.stderr()}")
        time.sleep(0.05)


@pytest.fixture
def client(settings: Settings, target: dict[str, str]) -> Iterator[Client]:
    """The test's own client, on the same target as the workers."""
    sdk = Client(target.get("TANDEM_URL"), settings=settings)
    try:
        yield sdk
    finally:
        sdk.close()
        embedded.close_all()


def test_eight_processes_log_to_one_run(
    workers: Workers, target: dict[str, str], client: Client, settings: Settings
) -> None:
    run_id = client.runs.create("shared").id
    started = [
        workers.start(ATTACHED, run_id, str(k), str(POINTS), **target) for k in range(WORKERS)
    ]
    workers.all_at_once(started)

    run = client.runs.get(run_id)
    for k in range(WORKERS):
        own = client.runs.metric_history(run_id, f"own{k}")
        assert own.step == list(range(POINTS))
        assert own.value == [float(i) for i in range(POINTS)]
    shared = client.runs.metric_history(run_id, "shared")
    assert shared.step == list(range(WORKERS * POINTS))
    assert shared.value == [float(i) for i in range(WORKERS * POINTS)]
    assert run.metrics["shared"] == float(WORKERS * POINTS - 1)
    assert run.tags == {f"worker{k}": "done" for k in range(WORKERS)}
    assert run.status is RunStatus.RUNNING  # attached processes do not end the run
    assert list(settings.spool_dir.glob("*.spool")) == []


def test_eight_processes_race_to_log_params_to_one_run(
    workers: Workers, target: dict[str, str], client: Client
) -> None:
    run_id = client.runs.create("shared").id
    rounds = 10
    started = [workers.start(PARAMS, run_id, str(k), str(rounds), **target) for k in range(WORKERS)]
    outcomes = [json.loads(text) for text in workers.all_at_once(started)]

    expected = {}
    for j in range(rounds):
        # The same value from everyone is fine; of different values exactly one wins.
        assert [o[f"dataset{j}"] for o in outcomes] == ["ok"] * WORKERS, outcomes
        lr = sorted(o[f"lr{j}"] for o in outcomes)
        assert lr == ["conflict"] * (WORKERS - 1) + ["ok"], outcomes
        [winner] = [k for k, o in enumerate(outcomes) if o[f"lr{j}"] == "ok"]
        expected.update({f"dataset{j}": "v1", f"lr{j}": str(winner)})
    assert client.runs.get(run_id).params == expected


def test_eight_processes_each_log_their_own_run(
    workers: Workers, target: dict[str, str], client: Client, settings: Settings
) -> None:
    client.projects.create("crowd")
    started = [
        workers.start(OWN_RUN, "crowd", str(k), str(POINTS), **target) for k in range(WORKERS)
    ]
    run_ids = workers.all_at_once(started)
    assert len(set(run_ids)) == WORKERS

    runs = list(client.runs.iter_search("crowd"))
    assert sorted(run.id for run in runs) == sorted(run_ids)
    for k, run_id in enumerate(run_ids):
        run = client.runs.get(run_id)
        assert run.name == f"worker-{k}"
        assert run.status is RunStatus.FINISHED
        assert run.params == {"k": str(k)}
        assert run.tags == {"worker": str(k)}
        history = client.runs.metric_history(run_id, "loss")
        assert history.step == list(range(POINTS))
        assert history.value == [k + i / POINTS for i in range(POINTS)]
        paths = [artifact.path for artifact in client.runs.list_artifacts(run_id)]
        assert paths == ["environment/packages.txt"]
    assert list(settings.spool_dir.glob("*.spool")) == []


def test_eight_first_runs_of_a_new_project_create_it_once(
    workers: Workers, target: dict[str, str], client: Client
) -> None:
    """`start_run` creates its project on first use: eight at once must all get in."""
    rounds = 10
    started = [workers.start(FIRST_RUNS, "fresh", str(rounds), **target) for _ in range(WORKERS)]
    run_ids = [json.loads(text) for text in workers.all_at_once(started)]

    names = [f"fresh-{j}" for j in range(rounds)]
    assert sorted(project.name for project in client.projects.list().items) == sorted(names)
    for j, name in enumerate(names):
        runs = list(client.runs.iter_search(name))
        assert sorted(run.id for run in runs) == sorted(ids[j] for ids in run_ids)
        assert {run.status for run in runs} == {RunStatus.FINISHED}
