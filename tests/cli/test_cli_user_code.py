"""Your code failed, not tandem: a pipeline stage that raises, a Python pipeline file that raises
while tandem reads it and a model whose predict raises are UserCodeError (`user-code-error` on
the wire), one line in the CLI with the user's traceback kept; a stage run whose recording
fails is marked failed, never left `running`; `tandem reproduce` runs with the recorded params."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.errors import InvalidInput, UserCodeError, from_problem
from tandem.sdk.client import Client

PY = sys.executable


@pytest.fixture
def work(tmp_path: Path, sdk: Client) -> Path:
    sdk.projects.create("churn")
    root = tmp_path / "proj"
    root.mkdir()
    return root


def test_a_stage_that_raises_is_your_code_failing(tandem: Any, sdk: Client, work: Path) -> None:
    (work / "train.py").write_text("print('training')\nratio = 1 / 0\n")
    (work / "tandem.yaml").write_text(
        f"project: churn\nstages:\n  train:\n    cmd: {PY} train.py\n    deps: [train.py]\n"
    )
    outcome = tandem("run", "--file", str(work / "tandem.yaml"))
    assert outcome.code == 1
    assert "✗ train failed: the command exited with status 1" in outcome.stdout
    line = "error: your code failed: stage train: ZeroDivisionError: division by zero (log: "
    assert line in outcome.stderr, outcome.stderr
    log = Path(outcome.stderr.split("(log: ", 1)[1].split(")", 1)[0])
    assert "Traceback (most recent call last)" in log.read_text()  # the user's traceback
    (run,) = sdk.runs.search("churn").items
    assert run.status == "failed"


def test_a_python_pipeline_file_that_raises(tandem: Any, work: Path) -> None:
    (work / "pipeline.py").write_text(
        "from tandem.pipelines import stage\nraise RuntimeError('no config for you')\n"
    )
    outcome = tandem("run", "--file", str(work / "pipeline.py"))
    assert outcome.code == 2  # an InvalidInput, as before
    assert outcome.stderr.startswith(
        "error: your code failed: pipeline.py failed while tandem read its stages: "
        "RuntimeError: no config for you (--debug shows its traceback)"
    ), outcome.stderr
    outcome = tandem("--debug", "run", "--file", str(work / "pipeline.py"))
    assert isinstance(outcome.exception, UserCodeError)
    assert isinstance(outcome.exception.__cause__, RuntimeError)


def test_a_python_stage_that_raises(tandem: Any, work: Path) -> None:
    (work / "pipeline.py").write_text(
        "from tandem.pipelines import stage\nPROJECT = 'churn'\n\n"
        "@stage(outs=['out.txt'])\ndef train():\n    {}['missing']\n"
    )
    outcome = tandem("run", "--file", str(work / "pipeline.py"))
    assert outcome.code == 1
    assert "error: your code failed: stage train: KeyError: 'missing'" in outcome.stderr


def test_a_stage_run_whose_recording_fails_is_marked_failed(
    tandem: Any, sdk: Client, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tandem.pipelines.record import Recorder

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Recorder, "finish", broken)
    (work / "tandem.yaml").write_text(
        f"project: churn\nstages:\n  a:\n    cmd: {PY} -c \"open('a.txt', 'w')\"\n"
        "    outs: [a.txt]\n"
    )
    outcome = tandem("run", "--file", str(work / "tandem.yaml"), "--json")
    assert outcome.code == 1, outcome.stderr
    (stage,) = json.loads(outcome.stdout)["stages"]
    assert stage["status"] == "failed"
    assert stage["message"] == "tandem could not record the stage's run: OSError: disk full"
    assert "your code failed" not in outcome.stderr  # tandem failed here, not the stage
    (run,) = sdk.runs.search("churn").items
    assert run.status == "failed"  # not `running` for ever


def broken_model(frame: Any) -> Any:
    return frame["x"] / 0 + {}["no such key"]


def test_a_model_whose_predict_raises(
    tandem: Any, sdk: Client, tmp_path: Path, settings: Any
) -> None:
    sdk.projects.create("churn")
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9, 0.3], "y": [0, 1, 1, 0]})
    sdk.data.add("tiny", frame, project="churn")
    with sdk.start_run(project="churn") as run:
        run.log_model(broken_model, "broken", flavor="python", trusted=True)
    with pytest.raises(UserCodeError, match="could not predict on this data \\(KeyError") as info:
        sdk.evaluations.evaluate("broken@1", "tiny@v1", "y", project="churn", trusted=True)
    assert isinstance(info.value, InvalidInput)  # `except InvalidInput` still catches it
    assert isinstance(info.value.__cause__, KeyError)
    outcome = tandem("evaluate", "broken@1", "-d", "tiny@v1", "-t", "y", "--trusted", "-p", "churn")
    assert outcome.code == 2
    assert outcome.stderr.startswith(
        "error: your code failed: the model could not predict on this data (KeyError: "
    ), outcome.stderr


def test_user_code_error_on_the_wire() -> None:
    from tandem.server.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise UserCodeError("stage train: ZeroDivisionError: division by zero", stage="train")

    response = TestClient(app).get("/boom")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "user-code-error" and body["title"] == "User code failed"
    again = from_problem(body)
    assert type(again) is UserCodeError and again.details == {"stage": "train"}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root,
                   check=True, capture_output=True)  # fmt: skip


def test_reproduce_runs_the_recorded_params_of_uncommitted_changes(
    tandem: Any, sdk: Client, work: Path
) -> None:
    (work / "tandem.yaml").write_text(
        f"project: churn\nstages:\n  train:\n    cmd: {PY} train.py\n    deps: [train.py]\n"
        "    params: [train.C]\n    outs: [model.txt]\n"
    )
    (work / "train.py").write_text(
        "import yaml\nC = yaml.safe_load(open('params.yaml'))['train']['C']\n"
        "open('model.txt', 'w').write(f'C={C}')\n"
    )
    (work / "params.yaml").write_text("# tuned by hand\ntrain:\n  C: 1.0\n  other: x\n")
    (work / ".gitignore").write_text("model.txt\n")
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "C 1.0")
    (work / "params.yaml").write_text("train:\n  C: 0.5\n  other: x\n")  # not committed
    outcome = tandem("run", "--file", str(work / "tandem.yaml"), "--json")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert (work / "model.txt").read_text() == "C=0.5"
    lock = json.loads((work / "tandem.lock").read_text())["stages"]

    outcome = tandem("reproduce", lock["train"]["run"], "--json")
    report = json.loads(outcome.stdout)
    assert outcome.code == 0 and report["identical"], report
    assert not any(d.startswith("params") for d in report["differences"]), report
    assert any("uncommitted changes" in d for d in report["differences"])
    again = sdk.runs.get(report["reproduction"].rsplit("/", 1)[-1])
    assert again.params["train.C"] == "0.5"
    assert (work / "params.yaml").read_text() == "train:\n  C: 0.5\n  other: x\n"  # untouched
