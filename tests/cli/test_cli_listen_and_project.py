"""Two answers that must be the same from every command (issue 26): a port that is taken is
one `error:` line and exit 7 before a server announces itself or does any work, and "no
project given" is the words and the exit code (2) docs/cli.md gives."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.cli.output import NO_PROJECT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process's socket listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_taken_port_is_one_line_and_exit_7(tandem: Any, taken_port: int) -> None:
    expected = (
        f"error: port {taken_port} on 127.0.0.1 is already in use: stop what listens there, "
        "or pick another port with --port"
    )
    for args in (("server",), ("serve", "ep", "-p", "churn")):
        outcome = tandem(*args, "--port", str(taken_port))
        assert outcome.code == 7, outcome.stderr
        assert outcome.stderr_lines == [expected]  # no "serving on", no traceback
        assert outcome.stdout == ""


def test_the_demo_checks_the_port_before_its_first_step(taken_port: int) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo"), "--port", str(taken_port)],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: port {taken_port} on 127.0.0.1")
    assert "--port" in lines[0] and done.stdout == ""


def test_no_project_is_the_same_line_and_exit_2_everywhere(
    tandem: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TANDEM_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tandem.yaml").write_text("stages:\n  a:\n    cmd: echo hi\n")
    assert NO_PROJECT == (
        "no project given: pass --project, set TANDEM_PROJECT, "
        'or put project = "..." in tandem.toml'
    )
    for args in (("runs", "list"), ("criteria", "list"), ("data", "list"), ("brief", "show")):
        outcome = tandem(*args)
        assert outcome.code == 2, (args, outcome.stderr)
        assert outcome.stderr_lines == [f"error: {NO_PROJECT}"], args
    ran = tandem("run")
    assert ran.code == 2 and ran.stderr_lines == [
        f"error: {NO_PROJECT}, or project: in tandem.yaml"
    ]
    assert not (tmp_path / "tandem.lock").exists()  # nothing ran
    assert "no project given" in (ROOT / "docs" / "cli.md").read_text()
