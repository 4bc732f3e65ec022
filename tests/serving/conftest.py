"""The serving tests' world: a real hub on loopback with real registered models (scikit-learn
through skops, LightGBM, a trusted Python model), and gateways as real uvicorn processes on
loopback (`gateway_child.py`) that download those models through the SDK; and for the control
plane's tests, the test's workspace as the environment of the processes a test starts (`tandem
serve`, `tandem server`), every process killed when the test ends, and `tandem` run in process
for the command's own checks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import lightgbm as lgb
import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tandem.cli import output
from tandem.core.config import Settings
from tandem.deployments.models import Policy, PolicyRoute, Role
from tandem.registry.models import ModelVersion
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.server.app import create_app

sys.path.insert(0, str(Path(__file__).parent.parent / "cli"))
sys.path.insert(0, str(Path(__file__).parent.parent / "sdk"))

from cli_helpers import run_cli
from processes import Processes, workspace_env

CHILD = Path(__file__).with_name("gateway_child.py")
DEADLINE = 90.0

RNG = np.random.default_rng(11)
FRAME = pd.DataFrame({"tenure": RNG.normal(20, 8, 400), "charges": RNG.normal(70, 20, 400)})
LABELS = (FRAME.tenure + 0.2 * FRAME.charges > 34).astype(int)


class Slow:
    """A trusted Python model that answers 7 after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def predict(self, frame: Any) -> list[int]:
        time.sleep(self.delay)
        return [7] * len(frame)


@dataclass
class Models:
    client: Client
    versions: dict[str, ModelVersion]
    local: dict[str, Any]

    def route(
        self, key: str, deployment: str, role: Role = Role.PRIMARY, weight: float = 100.0,
        *, mirror: float = 0.0, trusted: bool = False, max_rows: int = 10_000,
    ) -> PolicyRoute:  # fmt: skip
        """The policy route the hub would send for one registered version."""
        version = self.versions[key]
        return PolicyRoute(
            deployment=deployment, model=version.model, version=version.version, role=role,
            weight=weight, mirror=mirror, flavor=version.flavor, format=version.format,
            trusted=trusted, signature=version.signature, max_rows=max_rows,
            files=[f.model_dump() for f in version.files],
        )  # fmt: skip


@pytest.fixture
def models(services, settings, serve) -> Iterator[Models]:
    """A hub on loopback holding: lr@1 and lr@2 (scikit-learn LogisticRegression, the second
    with the opposite answers), gbm@1 (a LightGBM booster), slow@1 (trusted Python)."""
    with serve(create_app(services=services, allow_open=True)) as url:
        client = Client(url, settings=settings)
        client.projects.create("churn")
        booster = lgb.train(
            {"objective": "binary", "verbose": -1, "num_threads": 1},
            lgb.Dataset(FRAME, LABELS), num_boost_round=8,
        )  # fmt: skip
        local = {
            "lr1": LogisticRegression().fit(FRAME, LABELS),
            "lr2": LogisticRegression().fit(FRAME, 1 - LABELS),
            "gbm": booster,
        }
        versions = {}
        cloudpickle.register_pickle_by_value(
            sys.modules[Slow.__module__]
        )  # the child has no conftest
        with client.start_run(project="churn") as run:
            versions["lr1"] = run.log_model(local["lr1"], "lr", example=FRAME.head(3))
            versions["lr2"] = run.log_model(local["lr2"], "lr", example=FRAME.head(3))
            versions["gbm"] = run.log_model(booster, "gbm", example=FRAME.head(3))
            versions["slow"] = run.log_model(Slow(0.0), "slow", example=FRAME.head(3),
                                             trusted=True)  # fmt: skip
        yield Models(client, versions, local)
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """One gateway child: `url`, `set_policy`, the windows and log lines it wrote."""

    def __init__(self, hub: str, folder: Path, policy: Policy, max_body: int | None) -> None:
        self.folder = folder
        self.policy_file = folder / "policy.json"
        self.policy_file.write_bytes(policy.model_dump_json().encode())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, str(CHILD), "--hub", hub, "--project", policy.project,
                "--policy", str(self.policy_file), "--port", str(self.port),
                "--cache", str(folder / "cache"), "--out", str(folder / "out")]  # fmt: skip
        if max_body is not None:
            args += ["--max-body", str(max_body)]
        self.stderr = (folder / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            args, cwd=folder, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.expect_swap(policy.policy_version)
        deadline = time.monotonic() + DEADLINE
        while True:
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/v2/health/live").status_code == 200:
                    break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the gateway did not start:\n{self.errors()}")
            time.sleep(0.05)

    def errors(self) -> str:
        return (self.folder / "stderr.log").read_text(errors="replace")[-3000:]

    def expect_swap(self, policy_version: int) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == f"swapped {policy_version}", f"{line!r}\n{self.errors()}"

    def set_policy(self, policy: Policy) -> None:
        """Write a new policy and wait for the gateway to serve it."""
        self.policy_file.write_bytes(policy.model_dump_json().encode())
        self.expect_swap(policy.policy_version)

    def next_line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def lines(self, name: str) -> list[Any]:
        """Every JSON line of out/`name`.jsonl written so far (after the writer's next turn)."""
        time.sleep(0.3)
        path = self.folder / "out" / f"{name}.jsonl"
        return (
            [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
        )

    def lines_until(self, name: str, done: Any) -> list[Any]:
        """The lines of out/`name`.jsonl once `done(lines)` holds (the writer and the shadow
        thread work after the answers): fails after DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while True:
            lines = self.lines(name)
            if done(lines):
                return lines
            assert time.monotonic() < deadline, f"{name}: {lines[-5:]}\n{self.errors()}"

    def close(self) -> None:
        self.http.close()
        self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


@pytest.fixture
def start_gateway(models: Models, tmp_path: Path) -> Iterator[Any]:
    """`start_gateway(policy, max_body=None)` -> a running `GatewayProcess` (killed at the end)."""
    started: list[GatewayProcess] = []

    def start(policy: Policy, max_body: int | None = None) -> GatewayProcess:
        folder = tmp_path / f"gateway-{len(started)}"
        folder.mkdir()
        hub = str(models.client.target)
        started.append(GatewayProcess(hub, folder, policy, max_body))
        return started[-1]

    yield start
    for gateway in started:
        gateway.close()


def policy(*routes: PolicyRoute, version: int = 1, sticky: str | None = None) -> Policy:
    return Policy(
        project="churn", endpoint="prod", policy_version=version, production=False,
        sticky_key=sticky, routes=list(routes),
    )  # fmt: skip


@pytest.fixture
def tandem(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tandem(*args)` runs the CLI in process on the test's workspace."""
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    yield run_cli
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    embedded.close_all()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment of a process on this test's workspace (embedded, no server)."""
    return workspace_env(settings)


@pytest.fixture
def processes(tmp_path: Path, env: dict[str, str]) -> Iterator[Processes]:
    """`tandem server` processes (and others) that are killed when the test ends."""
    started = Processes(tmp_path, env)
    yield started
    started.close()
