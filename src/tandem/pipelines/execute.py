"""Running one stage's command: a process in the pipeline's folder, its output to a log file,
killed (with everything it started) when it outlives its timeout. A module-level function on
plain data, so a Ray task can run it as well as a local thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.pipelines.spec import Stage


@dataclass(frozen=True, slots=True)
class CommandJob:
    cmd: str
    cwd: str
    env: dict[str, str]
    log: str
    timeout: float | None = None
    echo: str | None = None  # also print each output line to stdout with this prefix


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    seconds: float
    timed_out: bool = False


def stage_environment(stage: Stage, *, seed: int, project: str, run_id: str,
                      datasets: dict[str, Path]) -> dict[str, str]:  # fmt: skip
    """What a stage's command sees: this environment, the stage's `env`, its seed, run and
    project, and `TANDEM_DATASET_<NAME>` for each dataset version's local folder."""
    env = {**os.environ, **dict(stage.env), "TANDEM_SEED": str(seed), "TANDEM_STAGE": stage.name,
           "TANDEM_RUN_ID": run_id, "TANDEM_PROJECT": project}  # fmt: skip
    for ref, folder in datasets.items():
        name = ref.split("/")[-1].split("@")[0]
        env["TANDEM_DATASET_" + "".join(c if c.isalnum() else "_" for c in name).upper()] = str(
            folder
        )
    return env


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def stop_local_commands() -> None:
    """Kill every stage command this process is running (the run was interrupted: its
    stage threads are blocked waiting on them and cannot see the interrupt)."""
    with _live_lock:
        processes = list(_live)
    for process in processes:
        _kill_group(process)


def execute_command(job: CommandJob) -> CommandResult:
    """Run `job.cmd` with the shell, as `dvc repro` does; stdout and stderr go to `job.log`
    (and, with `job.echo`, to this process's stdout as they come)."""
    started = time.perf_counter()
    with open(job.log, "wb") as log:
        process = subprocess.Popen(
            job.cmd, shell=True, cwd=job.cwd, env=job.env,
            stdout=subprocess.PIPE if job.echo is not None else log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        with _live_lock:
            _live.add(process)
        copier = None
        if job.echo is not None:
            copier = threading.Thread(target=_copy, args=(process, log, job.echo), daemon=True)
            copier.start()
        try:
            code = process.wait(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return CommandResult(-1, time.perf_counter() - started, timed_out=True)
        except BaseException:  # interrupted: take the stage's processes down with us
            _kill_group(process)
            raise
        finally:
            with _live_lock:
                _live.discard(process)
            if copier is not None:
                copier.join(timeout=5)
            if process.stdout is not None:
                process.stdout.close()
    return CommandResult(code, time.perf_counter() - started)


def _copy(process: subprocess.Popen[bytes], log: Any, prefix: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        log.write(line)
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
