"""Start the servers under test, each pinned to the server core with `taskset`, in a process
group of its own (stopped with SIGTERM, then SIGKILL, at the end). Every peer runs from its own
virtual environment (run_serving.sh makes them) and gets the same model file and body.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import free_port, stop_process_group
from loadgen import SERVER_CORE, post

HERE = Path(__file__).resolve().parent
ENV = os.environ.get("BENCH_ENV_PREFIX", "/tmp/benchenv")


@dataclass
class Server:
    name: str
    port: int
    path: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def pinned(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", SERVER_CORE, *cmd]


def wait_answering(server: Server, body: str, timeout: float = 180) -> bytes:
    """Wait until a POST of `body` gets a 200; return its body."""
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}), see {server.log}")
        try:
            status, _, data = post("127.0.0.1", server.port, server.path, body)
            if status == 200:
                return data
            last = f"HTTP {status}: {data[:200]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} did not answer in {timeout} s ({last}), see {server.log}")


@contextlib.contextmanager
def started(
    name: str,
    cmd: list[str],
    path: str,
    port: int,
    workdir: Path,
    body: str,
    env: dict[str, str] | None = None,
    *,
    pin: bool = True,
) -> Iterator[tuple[Server, bytes]]:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            pinned(cmd) if pin else cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env or os.environ.copy(),
            cwd=workdir,
        )
    server = Server(name, port, path, proc, log)
    try:
        answer = wait_answering(server, body)
        yield server, answer
    finally:
        stop_process_group(proc, grace=60)


def mlflow_serve(folder: Path, workdir: Path, body: str) -> contextlib.AbstractContextManager:  # type: ignore[type-arg]
    port = free_port()
    cmd = [
        f"{ENV}-mlflow/bin/mlflow",
        "models",
        "serve",
        "-m",
        str(folder / "mlflow-model"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
        "--env-manager",
        "local",
    ]
    env = {**os.environ, "PATH": f"{ENV}-mlflow/bin:{os.environ['PATH']}"}
    return started("mlflow", cmd, "/invocations", port, workdir, body, env)


def ray_serve(
    folder: Path, workdir: Path, body: str, *, pin: bool = True
) -> contextlib.AbstractContextManager:  # type: ignore[type-arg]
    port = free_port()
    cmd = [
        f"{ENV}-rayserve/bin/python",
        str(HERE / "peer_rayserve.py"),
        "--model",
        str(folder / "mlflow-model" / "model.skops"),
        "--port",
        str(port),
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)  # a local Ray, never a cluster
    return started("rayserve", cmd, "/invocations", port, workdir, body, env, pin=pin)


def fastapi_constant(workdir: Path, body: str) -> contextlib.AbstractContextManager:  # type: ignore[type-arg]
    port = free_port()
    cmd = [f"{ENV}-fastapi/bin/python", str(HERE / "peer_fastapi.py"), "--port", str(port)]
    return started("fastapi", cmd, "/invocations", port, workdir, body)


def predictions(answer: bytes) -> list[object]:
    """The predictions of an MLflow-style answer (`{"predictions": [...]}`)."""
    data = json.loads(answer)
    return list(data["predictions"] if isinstance(data, dict) else data)
