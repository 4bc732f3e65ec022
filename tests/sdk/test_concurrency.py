"""Eight processes at once, for real: to one run, or each to its own run of one project, on the
embedded workspace (concurrent writers to the same database) and against one `tandem server`.
Nothing may be lost or doubled, and a param keeps exactly one value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Processes, workspace_env

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.tracking.models import RunStatus

pytestmark = pytest.mark.slow

WORKERS = 8
POINTS = 5_000  # per worker and key

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


@pytest.fixture
def workers(tmp_path: Path, settings: Settings) -> Iterator[Processes]:
    running = Processes(tmp_path, workspace_env(settings))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(params=["embedded", "server"])
def target(request: pytest.FixtureRequest, workers: Processes) -> dict[str, str]:
    """The extra environment of the workers: none (the embedded workspace, every process
    writing to the same database) or TANDEM_URL of one `tandem server` process."""
    if request.param == "embedded":
        return {}
    return {"TANDEM_URL": workers.server().url}


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
    workers: Processes, target: dict[str, str], client: Client, settings: Settings
) -> None:
    run_id = client.runs.create("shared").id
    started = [
        workers.python(ATTACHED, run_id, str(k), str(POINTS), stdin=True, **target)
        for k in range(WORKERS)
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
    workers: Processes, target: dict[str, str], client: Client
) -> None:
    run_id = client.runs.create("shared").id
    rounds = 10
    started = [
        workers.python(PARAMS, run_id, str(k), str(rounds), stdin=True, **target)
        for k in range(WORKERS)
    ]
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
    workers: Processes, target: dict[str, str], client: Client, settings: Settings
) -> None:
    client.projects.create("crowd")
    started = [
        workers.python(OWN_RUN, "crowd", str(k), str(POINTS), stdin=True, **target)
        for k in range(WORKERS)
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
    workers: Processes, target: dict[str, str], client: Client
) -> None:
    """`start_run` creates its project on first use: eight at once must all get in."""
    rounds = 10
    started = [
        workers.python(FIRST_RUNS, "fresh", str(rounds), stdin=True, **target)
        for _ in range(WORKERS)
    ]
    run_ids = [json.loads(text) for text in workers.all_at_once(started)]

    names = [f"fresh-{j}" for j in range(rounds)]
    assert sorted(project.name for project in client.projects.list().items) == sorted(names)
    for j, name in enumerate(names):
        runs = list(client.runs.iter_search(name))
        assert sorted(run.id for run in runs) == sorted(ids[j] for ids in run_ids)
        assert {run.status for run in runs} == {RunStatus.FINISHED}
