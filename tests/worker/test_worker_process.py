"""`tandem worker` and `tandem server --with-worker` as real processes on the test's workspace
(SQLite or PostgreSQL): one tick and exit, a loop stopped by SIGTERM after its tick (exit 0),
the server's thread ticking beside the API, `-p` restricting it to one project, and bad input
refused in one line with exit 2."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from processes import DEADLINE, Processes, free_port

from tandem.core.clock import now_ms
from tandem.deployments.models import EndpointCreate
from tandem.monitoring.models import MonitorSpec, SignalKind
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services

pytestmark = pytest.mark.slow

AT = "2026-12-07T10:00"
AT_MS = 1_796_637_600_000  # 2026-12-07T10:00:00Z


def tandem(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli.main", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, check=False,
    )  # fmt: skip


def test_once_ticks_and_exits(env: dict[str, str], tmp_path: Path):
    done = tandem(env, tmp_path, "worker", "--once", "--at", AT, "--name", "cron-1", "--json")
    assert done.returncode == 0, done.stderr
    tick = json.loads(done.stdout)
    assert tick["worker"] == "cron-1" and tick["at"] == AT_MS
    assert tick["ok"] is True and tick["errors"] == 0
    assert list(tick["steps"]) == ["evaluate", "alerts", "deliveries"]
    assert tick["steps"]["deliveries"]["summary"] == {"sent": 0, "retrying": 0, "failed": 0}
    plain = tandem(env, tmp_path, "worker", "--once", "--at", AT)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("2026-12-07 10:00:00 ") and "0 errors" in plain.stdout


def test_sigterm_stops_the_loop_after_its_tick(processes: Processes):
    child = processes._start(
        ["-m", "tandem.cli.main", "worker", "--interval", "0.2", "--at", AT, "--json"],
        False, {}, "worker",
    )  # fmt: skip
    ticks = [json.loads("{" + child.expect("{")) for _ in range(3)]
    assert [tick["ok"] for tick in ticks] == [True, True, True]
    assert ticks[0]["at"] == AT_MS and ticks[0]["at"] < ticks[1]["at"] < ticks[2]["at"]
    assert len({tick["worker"] for tick in ticks}) == 1
    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(DEADLINE) == 0, child.stderr()
    assert "stopping after this tick" in child.stderr()


def test_the_server_runs_the_worker_beside_the_api(processes: Processes):
    port = free_port()
    child = processes._start(
        ["-m", "tandem.cli.main", "server", "--port", str(port), "--with-worker",
         "--worker-interval", "0.2"],
        False, {}, "server",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v1/health"
    deadline = time.monotonic() + DEADLINE
    while True:
        assert child.proc.poll() is None, child.stderr()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                break
        assert time.monotonic() < deadline, child.stderr()
        time.sleep(0.05)

    def log() -> str:
        return child.log_path.read_text(errors="replace")

    def tick_lines() -> list[str]:
        return [line for line in log().splitlines() if "; 0 errors" in line]

    while len(tick_lines()) < 2:  # the worker's thread logs each tick
        assert time.monotonic() < deadline, child.stderr()
        time.sleep(0.05)
    assert "tandem worker " in log()
    child.proc.send_signal(signal.SIGTERM)
    child.proc.wait(DEADLINE)
    # uvicorn stops gracefully, then raises SIGTERM again for tandem's handler: 128 + 15, as
    # `tandem server` without the worker; the worker's thread stopped after its tick
    assert child.proc.returncode == 128 + signal.SIGTERM, child.stderr()
    assert "Traceback" not in log()


def test_bad_input_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path):
    cases = [
        (["worker", "--once", "--interval", "0"], "invalid interval '0'"),
        (["worker", "--once", "--interval", "soon"], "invalid duration 'soon'"),
        (["worker", "--once", "--executor", "spark"], "--executor must be 'local' or 'ray'"),
        (["worker", "--once", "--at", "yesterday"], "invalid time 'yesterday'"),
        (["--url", "http://127.0.0.1:9", "worker", "--once"], "drop --url"),
    ]
    for args, message in cases:
        done = tandem(env, tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, done.stderr)


def test_project_option_restricts_the_worker_to_that_project(
    services: Services, env: dict[str, str], tmp_path: Path
):
    owner = services.owner
    for project in ("churn", "other"):
        services.projects.create(owner, ProjectCreate(name=project))
        services.deployments.create_endpoint(owner, project, EndpointCreate(name="prod"))
        services.monitoring.create(owner, project, MonitorSpec(
            name="m", endpoint="prod", kind=SignalKind.CONTRACT, window="1h"
        ))  # fmt: skip
    later = str(now_ms() + 3 * 3_600_000)  # the monitors' first windows have closed

    def evaluated(project: str) -> int:
        return len(services.monitoring.results(owner, project, "m"))

    # the option on the command, and the global one before it
    for args in (["worker", "-p", "churn"], ["-p", "churn", "worker"]):
        done = tandem(env, tmp_path, *args, "--once", "--at", later, "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)["steps"]["evaluate"]["summary"]
        assert {r["project"] for r in summary["results"]} <= {"churn"}
        assert evaluated("churn") > 0 and evaluated("other") == 0
    unknown = tandem(env, tmp_path, "worker", "--project", "nope", "--once")
    assert unknown.returncode != 0 and unknown.stdout == ""
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0], unknown.stderr
    everyone = tandem(env, tmp_path, "worker", "--once", "--at", later, "--json")
    assert everyone.returncode == 0, everyone.stderr
    assert evaluated("other") == evaluated("churn") > 0
