"""`tandem run`, `status` and `checkout` end to end: real stage processes in a work tree, runs
recorded in the test's workspace (SQLite or PostgreSQL), outputs in its blob store, lineage
between stages; and every kind of bad pipeline refused with one line, recording nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tandem.sdk.client import Client

PY = sys.executable
PIPELINE = f"""
project: churn
seed: 11
stages:
  prepare:
    cmd: {PY} prepare.py
    deps: [prepare.py, raw.csv]
    params: [prepare.scale]
    outs: [data/features.csv]
  train:
    cmd: {PY} train.py
    deps: [train.py, data/features.csv]
    params: [train]
    outs: [model]
    metrics: [metrics.json]
  lint:
    cmd: {PY} -c "open('lint.txt', 'w').write('ok')"
    outs: [lint.txt]
"""
PREPARE = """import os, pathlib
scale = float(__import__("yaml").safe_load(open("params.yaml"))["prepare"]["scale"])
rows = pathlib.Path("raw.csv").read_text().split()[1:]
pathlib.Path("data/features.csv").write_text("\\n".join(str(float(r) * scale) for r in rows))
print("seed", os.environ["TANDEM_SEED"], "run", os.environ["TANDEM_RUN_ID"])
"""
TRAIN = """import json, pathlib
xs = [float(x) for x in pathlib.Path("data/features.csv").read_text().split()]
pathlib.Path("model").mkdir(exist_ok=True)
pathlib.Path("model/weights.txt").write_text(str(sum(xs)))
json.dump({"auc": 0.75, "loss": {"train": 0.5}}, open("metrics.json", "w"))
"""


@pytest.fixture
def work(tmp_path: Path, sdk: Client) -> Path:
    sdk.projects.create("churn")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tandem.yaml").write_text(PIPELINE)
    (root / "params.yaml").write_text("prepare: {scale: 2}\ntrain: {lr: 0.1}\n")
    (root / "raw.csv").write_text("x\n1\n2\n3\n")
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN)
    return root


def _run(tandem: Any, root: Path, *args: str) -> dict[str, str]:
    outcome = tandem("run", "--file", str(root / "tandem.yaml"), "--json", *args)
    stages = json.loads(outcome.stdout)["stages"]
    stopped = any(s["status"] in ("failed", "skipped") for s in stages)
    assert outcome.code == (1 if stopped else 0), outcome.stderr  # 1: a stage failed or skipped
    print({s["stage"]: s["message"] for s in stages if s["message"]})  # shown when a test fails
    return {s["stage"]: s["status"] for s in stages}


def test_runs_skips_restores_and_checks_out(tandem: Any, sdk: Client, work: Path) -> None:
    assert _run(tandem, work) == {"prepare": "ran", "train": "ran", "lint": "ran"}
    assert (work / "model" / "weights.txt").read_text() == "12.0"
    lock = json.loads((work / "tandem.lock").read_text())["stages"]
    train_run = lock["train"]["run"].rsplit("/", 1)[-1]
    run = sdk.runs.get(train_run)
    assert run.status == "finished" and run.seed == 11 and run.params["train"] == '{"lr":0.1}'
    assert (
        run.tags["tandem.stage"] == "train" and run.tags["tandem.stage.key"] == lock["train"]["key"]
    )
    assert run.metrics["auc"] == 0.75 and run.metrics["loss.train"] == 0.5
    assert sdk.runs.read_artifact(train_run, "outs/model/weights.txt") == b"12.0"
    stage_record = json.loads(sdk.runs.read_artifact(train_run, "tandem-stage.json"))
    assert set(stage_record["deps"]) == {"train.py", "data/features.csv"}
    prepare_log = sdk.runs.read_artifact(
        lock["prepare"]["run"].rsplit("/", 1)[-1], "logs/prepare.log"
    )
    assert prepare_log.startswith(b"seed 11 run ")
    # train read prepare's output: lineage says so
    up = sdk.lineage.graph(lock["train"]["run"], direction="upstream")
    assert f"{lock['prepare']['run']}/artifacts/outs/data/features.csv" in [n.ref for n in up.nodes]

    assert _run(tandem, work) == dict.fromkeys(("prepare", "train", "lint"), "up-to-date")
    status = tandem("status", "--file", str(work / "tandem.yaml"))
    assert status.code == 0 and "everything is up to date" in status.stdout

    # a param only train reads: train runs again, nothing else
    (work / "params.yaml").write_text("prepare: {scale: 2}\ntrain: {lr: 0.2}\n")
    assert (
        "▶ train would-run: changed: params train"
        in tandem("status", "--file", str(work / "tandem.yaml")).stdout
    )
    assert _run(tandem, work) == {"prepare": "up-to-date", "train": "ran", "lint": "up-to-date"}
    # back to the old value: the earlier run's outputs come back without running
    (work / "params.yaml").write_text("prepare: {scale: 2}\ntrain: {lr: 0.1}\n")
    assert _run(tandem, work)["train"] == "restored"
    assert json.loads((work / "tandem.lock").read_text())["stages"]["train"]["run"].endswith(
        train_run
    )

    # outputs deleted from the work tree: checkout puts them back, byte for byte
    import shutil

    shutil.rmtree(work / "model")
    (work / "data" / "features.csv").write_text("tampered")
    outcome = tandem("checkout", "--file", str(work / "tandem.yaml"), "--json")
    assert sorted(json.loads(outcome.stdout)["restored"]) == ["prepare", "train"]
    assert (work / "model" / "weights.txt").read_text() == "12.0"
    assert (work / "data" / "features.csv").read_text() == "2.0\n4.0\n6.0"
    assert _run(tandem, work) == dict.fromkeys(("prepare", "train", "lint"), "up-to-date")
    # --force runs a stage even though nothing changed
    assert _run(tandem, work, "--force", "lint") == {"lint": "ran"}


def test_a_failure_stops_dependents_and_the_next_run_resumes(
    tandem: Any, sdk: Client, work: Path
) -> None:
    (work / "train.py").write_text("import sys; print('boom'); sys.exit(3)")
    outcome = tandem("run", "--file", str(work / "tandem.yaml"))
    assert outcome.code == 1
    assert "✗ train failed: the command exited with status 3" in outcome.stdout
    assert "    boom" in outcome.stdout  # the log's tail
    lock = json.loads((work / "tandem.lock").read_text())["stages"]
    assert set(lock) == {"prepare", "lint"}  # no cached output for a failed stage
    failed = sdk.runs.search("churn", "tags.`tandem.stage` = 'train'").items
    assert [r.status for r in failed] == ["failed"]
    (work / "train.py").write_text(TRAIN)
    assert _run(tandem, work) == {"prepare": "up-to-date", "train": "ran", "lint": "up-to-date"}


STAGE = """
stages:
  s:
    cmd: {cmd}
    deps: [in.txt]
    outs: [out.txt]
    timeout: {timeout}
"""


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (
            "echo x > out.txt; echo y > stray.txt",
            "wrote stray.txt, which is not among its declared outs",
        ),
        (
            "echo x > out.txt; echo changed >> in.txt",
            "dependency in.txt changed while the stage ran",
        ),
        ("echo nothing", "did not write its output out.txt"),
        ("sleep 30", "timed out after 1 s"),
    ],
)
def test_stage_misbehaviour_fails_the_stage(
    tandem: Any, sdk: Client, tmp_path: Path, cmd: str, message: str
) -> None:
    sdk.projects.create("churn")
    root = tmp_path / "p"
    root.mkdir()
    (root / "in.txt").write_text("in")
    (root / "tandem.yaml").write_text(
        STAGE.format(cmd=json.dumps(cmd), timeout=1 if "sleep" in cmd else 60)
    )
    outcome = tandem("--project", "churn", "run", "--file", str(root / "tandem.yaml"))
    assert outcome.code == 1 and message in outcome.stdout, outcome.stdout
    assert not (root / "tandem.lock").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stages:\n  a:\n    cmd: x\n    deps: [b.txt]\n    outs: [a.txt]\n"
            "  b:\n    cmd: y\n    deps: [a.txt]\n    outs: [b.txt]\n",
            "cycle",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    deps: [missing.txt]\n",
            "dependency missing.txt does not exist",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outz: [a.txt]\n",
            "tandem.yaml, line 4: stage 'a': unknown key 'outz'",
        ),
        ("stages:\n  a:\n    cmd: [x\n", "tandem.yaml, line 4: not valid YAML"),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [../escape.txt]\n",
            "line 4: stages.a.outs '../escape.txt' must be a relative path",
        ),
        ("stages:\n  a:\n    deps: [x]\n", "line 2: stage 'a' has no `cmd`"),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [o]\n  b:\n    cmd: y\n    outs: [o/p]\n",
            "both write 'o'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    timeout: soon\n",
            "line 4: stages.a.timeout must be a number",
        ),
        ("stages:\n  a:\n    cmd: x\n    deps: [datasets/customers]\n", "pin the dataset version"),
    ],
)
def test_bad_pipelines_are_one_line_errors(
    tandem: Any, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "tandem.yaml").write_text(text)
    outcome = tandem("--project", "churn", "run", "--file", str(tmp_path / "tandem.yaml"))
    if outcome.code == 1 and "failed" in outcome.stdout:  # a stage-level error (missing dep)
        assert message in outcome.stdout
    else:
        assert outcome.code == 2 and len(outcome.stderr_lines) == 1, outcome.stderr
        assert message in outcome.stderr, outcome.stderr
    assert not (tmp_path / "tandem.lock").exists()


def test_a_dataset_version_dependency(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    sdk.projects.create("churn")
    source = tmp_path / "customers.csv"
    source.write_text("id\n1\n2\n")
    sdk.data.add("customers", source, project="churn")
    root = tmp_path / "p"
    root.mkdir()
    (root / "tandem.yaml").write_text(
        "project: churn\nstages:\n  count:\n"
        "    cmd: wc -l < $TANDEM_DATASET_CUSTOMERS/customers.csv > n.txt\n"
        "    deps: [datasets/customers@v1]\n    outs: [n.txt]\n"
    )
    assert _run(tandem, root) == {"count": "ran"}
    assert (root / "n.txt").read_text().strip() == "3"
    down = sdk.lineage.graph("churn/datasets/customers@v1", direction="downstream")
    assert [n.label for n in down.nodes] == ["customers@v1", "count"]
    assert _run(tandem, root) == {"count": "up-to-date"}


@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time on the machine
def test_stages_run_as_ray_tasks(tandem: Any, work: Path) -> None:
    import ray

    try:
        statuses = _run(tandem, work, "--executor", "ray", "-j", "2")
    finally:
        ray.shutdown()  # leave no cluster behind for the tests that start their own
    assert statuses == dict.fromkeys(("prepare", "train", "lint"), "ran")
    assert (work / "model" / "weights.txt").read_text() == "12.0"
    assert _run(tandem, work) == dict.fromkeys(("prepare", "train", "lint"), "up-to-date")


def test_openlineage_events_to_a_file_and_an_http_endpoint(
    tandem: Any, work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, Any]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    events = tmp_path / "events.jsonl"
    assert _run(tandem, work, "--openlineage", str(events), "lint") == {"lint": "ran"}
    start, complete = (json.loads(line) for line in events.read_text().splitlines())
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"] == {"namespace": "tandem://churn", "name": "proj.lint", "facets": {}}
    assert complete["outputs"] == [{"namespace": f"file://{work}", "name": "lint.txt"}]
    assert complete["schemaURL"].startswith("https://openlineage.io/spec/")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage"
        # a collector on loopback is refused unless the workspace allows it (the SSRF rule)
        monkeypatch.setenv("TANDEM_OUTBOUND_ALLOW_HOSTS", f"127.0.0.1:{server.server_address[1]}")
        (work / "train.py").write_text("import sys; sys.exit(2)")
        statuses = _run(tandem, work, "--openlineage", url)
    finally:
        server.shutdown()
        server.server_close()
    assert statuses == {"prepare": "ran", "train": "failed", "lint": "up-to-date"}
    kinds = [(e["job"]["name"], e["eventType"]) for e in received]
    assert kinds == [
        ("proj.prepare", "START"), ("proj.prepare", "COMPLETE"),
        ("proj.train", "START"), ("proj.train", "FAIL"),
    ]  # fmt: skip
    prepare = received[1]
    assert {"namespace": f"file://{work}", "name": "raw.csv"} in prepare["inputs"]
    failure = received[3]["run"]["facets"]["errorMessage"]["message"]
    assert failure == "the command exited with status 2"


def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root,
                   check=True, capture_output=True)  # fmt: skip


def test_reproduce_a_stage_run(tandem: Any, sdk: Client, work: Path) -> None:
    (work / ".gitignore").write_text(
        "data/\nmodel/\nmetrics.json\nlint.txt\nnoise.txt\nnoise.json\n"
    )
    (work / "noise.py").write_text(
        "import json, os\nopen('noise.txt', 'w').write(os.urandom(8).hex())\n"
        "json.dump({'score': int.from_bytes(os.urandom(2), 'big')}, open('noise.json', 'w'))\n"
    )
    noise = f"  noise:\n    cmd: {PY} noise.py\n    outs: [noise.txt]\n    metrics: [noise.json]\n"
    (work / "tandem.yaml").write_text(PIPELINE + noise)
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "pipeline")
    assert set(_run(tandem, work).values()) == {"ran"}
    lock = json.loads((work / "tandem.lock").read_text())["stages"]

    # train read prepare's output, which git does not hold: it comes from prepare's run
    outcome = tandem("reproduce", lock["train"]["run"], "--json")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["identical"] and report["stage"] == "train"
    assert [o["path"] for o in report["outputs"] if o["same"]] == ["model", "metrics.json"]
    assert all(m["diff"] == 0 for m in report["metrics"])
    assert not any("input" in d or "params" in d for d in report["differences"]), report[
        "differences"
    ]
    assert report["worktree"] is None  # removed again
    again = sdk.runs.get(report["reproduction"].rsplit("/", 1)[-1])  # recorded, as evidence
    assert again.tags["tandem.reproduces"] == lock["train"]["run"].rsplit("/", 1)[-1]
    assert (
        again.tags["tandem.reproduction.identical"] == "true"
        and "tandem.stage.key" not in again.tags
    )

    # a stage that is not deterministic: told which outputs and metrics differ, exit 1
    outcome = tandem("reproduce", lock["noise"]["run"])
    assert outcome.code == 1
    assert "noise: " not in outcome.stderr and "outputs differ" in outcome.stdout
    assert "≠ noise.txt" in outcome.stdout and "metric score:" in outcome.stdout

    # a param changed since: reproduce runs the recorded commit, and says the params differ
    (work / "params.yaml").write_text("prepare: {scale: 3}\ntrain: {lr: 0.1}\n")
    _git(work, "commit", "-qam", "scale 3")
    outcome = tandem("reproduce", lock["prepare"]["run"], "--json")
    report = json.loads(outcome.stdout)
    assert report["identical"], report["differences"]

    with_no_record = sdk.start_run(project="churn", name="plain")
    with_no_record.end()
    outcome = tandem("reproduce", with_no_record.id)
    assert outcome.code == 2 and "only pipeline stage runs can be reproduced" in outcome.stderr


PYTHON_PIPELINE = """
import json, pathlib
from tandem.pipelines import stage

PROJECT = "churn"
SEED = 3


@stage(deps=["raw.csv"], params=["prepare.scale"], outs=["data/features.csv"])
def prepare():
    rows = pathlib.Path("raw.csv").read_text().split()[1:]
    pathlib.Path("data/features.csv").write_text("\\n".join(str(float(r) * 2) for r in rows))


@stage("fit", deps=["data/features.csv"], outs=["model.txt"], metrics=["metrics.json"])
def train():
    xs = [float(x) for x in pathlib.Path("data/features.csv").read_text().split()]
    pathlib.Path("model.txt").write_text(str(sum(xs)))
    json.dump({"total": sum(xs)}, open("metrics.json", "w"))
"""


def test_a_pipeline_declared_in_python(tandem: Any, sdk: Client, work: Path) -> None:
    (work / "pipeline.py").write_text(PYTHON_PIPELINE)
    outcome = tandem("run", "--file", str(work / "pipeline.py"), "--json")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    statuses = {s["stage"]: s["status"] for s in json.loads(outcome.stdout)["stages"]}
    assert statuses == {"prepare": "ran", "fit": "ran"}
    assert (work / "model.txt").read_text() == "12.0"
    lock = json.loads((work / "tandem.lock").read_text())["stages"]
    assert "pipeline.py" in lock["fit"]["deps"]  # the stages' code is an input of each
    fit = sdk.runs.get(lock["fit"]["run"].rsplit("/", 1)[-1])
    assert fit.seed == 3 and fit.metrics["total"] == 12.0
    again = tandem("run", "--file", str(work / "pipeline.py"))
    assert again.code == 0 and "2 up-to-date" in again.stdout

    # an exception in a stage fails it, with the traceback in its log
    (work / "pipeline.py").write_text(PYTHON_PIPELINE.replace("str(sum(xs))", "str(1 / 0)"))
    failed = tandem("run", "--file", str(work / "pipeline.py"))
    assert failed.code == 1 and "ZeroDivisionError" in failed.stdout
    # a file that does not parse, or declares nothing: one line, nothing runs
    for text, message in (
        ("x = (\n", "pipeline.py, line 1"),
        ("import os\n", "declares no stages"),
        ("from tandem.pipelines import stage\n@stage(outs=['../up.txt'])\ndef f(): pass\n",
         "'../up.txt' must be a relative path"),
    ):  # fmt: skip
        (work / "pipeline.py").write_text(text)
        bad = tandem("run", "--file", str(work / "pipeline.py"))
        assert bad.code == 2 and message in bad.stderr and len(bad.stderr_lines) == 1, bad.stderr


def test_verbose_shows_each_stage_output_as_it_runs(tandem: Any, sdk: Client, work: Path) -> None:
    outcome = tandem("run", "--file", str(work / "tandem.yaml"), "-v", "prepare")
    assert outcome.code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    printed = next(i for i, line in enumerate(lines) if line.startswith("  prepare | seed 11 run "))
    assert lines[printed - 1] == "▶ prepare running" and lines[printed + 1].startswith(
        "✓ prepare ran"
    )
    run = json.loads((work / "tandem.lock").read_text())["stages"]["prepare"]["run"]
    log = sdk.runs.read_artifact(run.rsplit("/", 1)[-1], "logs/prepare.log").decode()
    assert lines[printed] == "  prepare | " + log.rstrip("\n")  # and the run's log has it too


def test_reproduce_names_the_packages_that_changed(
    tandem: Any, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tandem.sdk import environment

    (work / ".gitignore").write_text("lint.txt\n")
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "pipeline")
    assert _run(tandem, work, "lint") == {"lint": "ran"}
    run = json.loads((work / "tandem.lock").read_text())["stages"]["lint"]["run"]
    recorded = environment.package_list()
    first, second = recorded.splitlines()[:2]
    name = first.split("==")[0]
    now = recorded.replace(first + "\n", f"{name}==999.0\n").replace(second + "\n", "")
    now += "zz-new-package==1.0\n"
    python, platform_name, _, host = environment._process_facts()
    monkeypatch.setattr(environment, "package_list", lambda: now)
    monkeypatch.setattr(
        environment, "_process_facts", lambda: (python, platform_name, "other", host)
    )
    report = json.loads(tandem("reproduce", run, "--json").stdout)
    assert report["identical"]  # the outputs did not change, but the record says what did
    [packages] = [d for d in report["differences"] if d.startswith("packages: ")]
    assert f"{name} {first.split('==')[1]} -> 999.0" in packages
    assert (
        f"{second.split('==')[0]} (removed)" in packages
        and "zz-new-package 1.0 (added)" in packages
    )


def test_one_run_at_a_time_per_pipeline(tandem: Any, work: Path, settings: Any) -> None:
    import fcntl

    from tandem.pipelines.runner import _short

    lock = settings.home / "pipelines" / "locks" / f"{_short(str(work))}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242")
        held.flush()
        busy = tandem("run", "--file", str(work / "tandem.yaml"))
        assert busy.code == 4 and "already being run here (pid 4242)" in busy.stderr
        assert tandem("status", "--file", str(work / "tandem.yaml")).code == 0  # reading is fine
        fcntl.flock(held, fcntl.LOCK_UN)
    assert not (work / "tandem.lock").exists()
    assert set(_run(tandem, work).values()) == {"ran"}


def test_a_folder_output_read_by_another_stage(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    sdk.projects.create("churn")
    root = tmp_path / "p"
    root.mkdir()
    (root / "tandem.yaml").write_text(
        "project: churn\nstages:\n"
        "  make:\n    cmd: mkdir -p parts && echo a > parts/a.txt && echo b > parts/b.txt\n"
        "    outs: [parts]\n"
        "  join:\n    cmd: cat parts/a.txt parts/b.txt > joined.txt\n"
        "    deps: [parts]\n    outs: [joined.txt]\n"
    )
    assert _run(tandem, root) == {"make": "ran", "join": "ran"}
    lock = json.loads((root / "tandem.lock").read_text())["stages"]
    up = sdk.lineage.graph(lock["join"]["run"], direction="upstream")
    make = lock["make"]["run"]
    assert {n.ref for n in up.nodes if n.kind == "artifact"} == {
        f"{make}/artifacts/outs/parts/a.txt",
        f"{make}/artifacts/outs/parts/b.txt",
    }
    (root / "parts" / "b.txt").unlink()  # an output folder changed: make restores it
    (root / "parts" / "stray.txt").write_text("not the run's")
    assert _run(tandem, root) == {"make": "restored", "join": "up-to-date"}
    assert sorted(p.name for p in (root / "parts").iterdir()) == ["a.txt", "b.txt"]
    assert (root / "parts" / "b.txt").read_text() == "b\n"


def test_a_malformed_metrics_file_fails_the_stage(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    sdk.projects.create("churn")
    root = tmp_path / "p"
    root.mkdir()
    (root / "tandem.yaml").write_text(
        "project: churn\nstages:\n  m:\n    cmd: \"printf 'auc: [0.8' > metrics.yaml\"\n"
        "    metrics: [metrics.yaml]\n"
    )
    outcome = tandem("run", "--file", str(root / "tandem.yaml"))
    assert outcome.code == 1 and "metrics file metrics.yaml is not JSON or YAML" in outcome.stdout
    assert not (root / "tandem.lock").exists()
    [run] = sdk.runs.search("churn", "tags.`tandem.stage` = 'm'").items
    assert run.status == "failed"


FRESH = f"""
project: fraud
stages:
  prepare:
    cmd: {PY} -c "open('clean.csv', 'w').write('1')"
    outs: [clean.csv]
  train:
    cmd: {PY} -c "open('model.txt', 'w').write(open('clean.csv').read())"
    deps: [clean.csv]
    outs: [model.txt]
"""


def test_a_first_run_in_a_fresh_folder(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    """A DVC user's first hour: `status` before any run says what will make each input, `run`
    creates the project (as `tandem.start_run` does) and says so, and the outputs go in a
    `.gitignore` next to tandem.yaml, as dvc does."""
    from tandem import errors

    root = tmp_path / "fresh"
    root.mkdir()
    (root / "tandem.yaml").write_text(FRESH)
    file = str(root / "tandem.yaml")
    status = tandem("status", "--file", file)
    assert status.code == 0, status.stderr
    assert "✗" not in status.stdout and "failed" not in status.stdout
    assert "train would-run: needs clean.csv, made by prepare" in status.stdout
    assert tandem("status", "--file", file, "--json").json()["stages"][1]["status"] == "would-run"
    with pytest.raises(errors.NotFound):
        sdk.projects.get("fraud")  # status made nothing

    first = tandem("run", "--file", file)
    assert first.code == 0, first.stdout + first.stderr
    assert first.stderr_lines == [
        "created project 'fraud'",
        "added to .gitignore: /clean.csv, /model.txt",
    ]
    assert sdk.projects.get("fraud").run_count == 2
    assert (root / ".gitignore").read_text() == "/clean.csv\n/model.txt\n"
    again = tandem("run", "--file", file, "--force")
    assert again.code == 0 and again.stderr == ""  # nothing new to create or ignore

    # A pattern git already has is not added again; the workspace, inside the folder, is.
    (root / ".gitignore").write_text("*.csv\n")
    _git(root, "init", "-q")
    from tandem.pipelines.spec import load_pipeline
    from tandem.pipelines.state import update_gitignore

    pipeline = load_pipeline(root / "tandem.yaml")
    added = update_gitignore(pipeline, root / ".tandem", ["clean.csv", "model.txt"])
    assert added == ["/.tandem/", "/model.txt"]
    assert (root / ".gitignore").read_text() == "*.csv\n/.tandem/\n/model.txt\n"
