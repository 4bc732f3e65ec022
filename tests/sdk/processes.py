"""Real subprocesses for the crash and concurrency tests: Python children whose stdout is read by
a thread (so every wait can time out), the `tandem` CLI, and `tandem server` on a fixed port so
it can be killed and restarted. Every process a test starts is killed when the test ends."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tandem.core.config import Settings

DEADLINE = 90.0  # seconds any one wait may take before the test fails


class Child:
    """A Python subprocess; a thread reads its stdout lines."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, *, stdin: bool):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            cwd=log_path.parent,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
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

    def expect(self, word: str, timeout: float = DEADLINE) -> str:
        """The rest of the next stdout line, which must start with `word`."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {word!r} within {timeout}s\n{self.stderr()}") from None
        if line is None or not line.startswith(word):
            raise AssertionError(f"expected {word!r}, got {line!r}\n{self.stderr()}")
        return line[len(word) :].strip()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a scheduler would, and reap it."""
        assert self.proc.poll() is None, f"it died on its own\n{self.stderr()}"
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

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


class Processes:
    """Every process a test starts; all of them are killed when the test ends, pass or fail."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.children: list[Child] = []

    def _start(self, args: list[str], stdin: bool, env: dict[str, str], name: str) -> Child:
        log = self.tmp_path / f"{name}-{len(self.children)}.log"
        child = Child(args, {**self.env, **env}, log, stdin=stdin)
        self.children.append(child)
        return child

    def python(self, code: str, *args: str, stdin: bool = False, **env: str) -> Child:
        return self._start(["-c", code, *args], stdin, env, "child")

    def all_at_once(self, children: list[Child]) -> list[str]:
        """Wait until every child says `ready`, tell them all to go at once; what each says
        after `done`."""
        for child in children:
            child.expect("ready")
        for child in children:
            child.send("go\n")
        results = [child.expect("done") for child in children]
        for child in children:
            assert child.proc.wait(DEADLINE) == 0, child.stderr()
        return results

    def cli(self, *args: str, **env: str) -> dict[str, Any]:
        """Run `tandem ... --json` to completion; its JSON output."""
        done = subprocess.run(
            [sys.executable, "-m", "tandem.cli.main", *args, "--json"],
            env={**self.env, **env},
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def server(self, port: int | None = None) -> ServerProcess:
        server = ServerProcess(self, port or free_port())
        server.start()
        return server

    def close(self) -> None:
        for child in self.children:
            child.close()


class ServerProcess:
    """`tandem server` as a real process on a fixed port, so it can be killed and restarted."""

    def __init__(self, processes: Processes, port: int) -> None:
        self.processes = processes
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.child: Child | None = None

    def start(self) -> None:
        args = ["-m", "tandem.cli.main", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        self.child = self.processes._start(args, False, {}, "server")
        deadline = time.monotonic() + DEADLINE
        while True:
            if self.child.proc.poll() is not None:
                raise AssertionError(f"tandem server exited\n{self.child.stderr()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"tandem server did not start\n{self.child.stderr()}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.child is not None
        self.child.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def workspace_env(settings: Settings) -> dict[str, str]:
    """The environment of a process working on this test's workspace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_HOME=str(settings.home),
        TANDEM_DATABASE_URL=settings.database_url,
        TANDEM_ARTIFACTS=settings.artifacts,
        PYTHONUNBUFFERED="1",
    )
    return env
