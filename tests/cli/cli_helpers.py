"""Helpers for the CLI tests: run `tandem` in process, and seed a workspace through the SDK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from typer.testing import CliRunner

from tandem.cli.main import app
from tandem.sdk.client import Client


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return orjson.loads(self.stdout)

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.rstrip("\n").split("\n") if self.stderr.strip() else []


def run_cli(*args: str, input: str | None = None) -> Outcome:
    result = CliRunner().invoke(app, list(args), input=input)
    exception = result.exception
    if isinstance(exception, SystemExit):
        exception = None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


@dataclass
class Seeded:
    """Four runs of project churn (and one of project other), by role."""

    gbm_deep: str  # gbm, depth 6, auc 0.91
    gbm_shallow: str  # gbm, depth 3, auc 0.85
    lr: str  # lr, auc 0.95
    gbm_weak: str  # gbm, depth 2, auc 0.70
    elsewhere: str  # in project "other"

    @property
    def churn(self) -> list[str]:
        return [self.gbm_deep, self.gbm_shallow, self.lr, self.gbm_weak]


def seed(client: Client) -> Seeded:
    client.projects.create("churn", "customer churn")
    client.projects.create("other")
    ids = []
    for name, params, auc in [
        ("deep", {"model": "gbm", "depth": 6, "lr": 0.1}, 0.91),
        ("shallow", {"model": "gbm", "depth": 3, "lr": 0.1}, 0.85),
        ("linear", {"model": "lr", "lr": 0.1}, 0.95),
        ("weak", {"model": "gbm", "depth": 2, "lr": 0.1}, 0.70),
    ]:
        run = client.runs.create("churn")
        client.runs.update(run.id, name=name)
        points = [("loss", 1.0 / (step + 1), step) for step in range(5)]
        points.append(("auc", auc, 4))
        client.runs.log_batch(
            run.id, params=params, tags={"team": "retention"}, metrics=points, end_status="finished"
        )
        ids.append(run.id)
    other = client.runs.create("other")
    return Seeded(*ids, elsewhere=other.id)
