"""The serving tests' world: real scikit-learn models registered in a real workspace, `tandem
serve` as a real process on a loopback port (killed with SIGKILL when a test says so), and a
closed-loop load generator that records every answer."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from tandem.sdk.client import Client

DEADLINE = 120.0  # seconds any one wait may take before the test fails
BODY = {"dataframe_split": {"columns": ["x"], "data": [[0.3]]}}


def register_models(client: Client, project: str = "churn", versions: int = 2) -> None:
    """Project `project` with `versions` versions of model `churn-lr`: one-feature logistic
    regressions fitted on real (seeded) data, saved as skops."""
    with contextlib.suppress(Exception):
        client.projects.create(project)
    rng = np.random.default_rng(22)
    x = rng.normal(size=(400, 1))
    for shift in range(versions):
        y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0.2 * shift).astype(int)
        import pandas as pd  # type: ignore[import-untyped]

        frame = pd.DataFrame({"x": x[:, 0]})
        with client.start_run(project) as run:
            run.log_model(LogisticRegression().fit(frame, y), "churn-lr", example=frame.head(5))


def wait_until(predicate: Any, what: str, timeout: float = DEADLINE, every: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy (that value), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class GatewayProcess:
    """`tandem serve ENDPOINT` as a real process on a fixed port, so it can be killed with
    SIGKILL and started again on the same port."""

    def __init__(self, tmp_path: Path, env: dict[str, str], port: int, *args: str) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.port = port
        self.args = args
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.tmp_path / f"gateway-{self.port}-{self.starts}.log"

    def start(self, *, ready: bool = True) -> GatewayProcess:
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tandem.cli.main", "serve", *self.args,
                 "--port", str(self.port)],
                env=self.env, cwd=self.tmp_path, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        if ready:
            self.wait_ready()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_ready(self, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the gateway exited\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway did not get ready\n{self.output()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer would, and reap it."""
        assert self.proc is not None and self.proc.poll() is None, self.output()
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

    def stop(self) -> int:
        """SIGTERM: a clean stop (the prediction log is shipped first); the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def close(self) -> None:
        """Stop it if it still runs: SIGTERM first (a Ray backend takes its cluster down),
        SIGKILL if that does not do."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Answer:
    status: int
    version: str | None
    request_id: str | None


@dataclass
class Load:
    """A closed-loop client on a thread of its own: one request after another, every answer
    (or connection failure, status 0) recorded."""

    url: str
    prefix: str = "load"  # of the request ids it sends: unique per Load in a test
    reconnect: bool = False  # a new connection per request (to reach every worker)
    body: dict[str, Any] = field(default_factory=lambda: BODY)
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        keepalive = 0 if self.reconnect else 20
        limits = httpx.Limits(max_keepalive_connections=keepalive)
        with httpx.Client(base_url=self.url, timeout=10, limits=limits) as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    request_id = f"{self.prefix}-{n}"
                    response = http.post(
                        "/invocations", json=self.body, headers={"x-request-id": request_id}
                    )
                except httpx.HTTPError:
                    self.answers.append(Answer(0, None, None))
                    continue
                self.answers.append(
                    Answer(
                        response.status_code,
                        response.headers.get("x-tandem-version"),
                        response.headers.get("x-request-id"),
                    )
                )

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def versions(self) -> set[str | None]:
        return {answer.version for answer in self.answers}

    def failed(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status != 200]


def predict(url: str, request_id: str | None = None) -> httpx.Response:
    headers = {"x-request-id": request_id} if request_id else {}
    return httpx.post(f"{url}/invocations", json=BODY, headers=headers, timeout=10)
