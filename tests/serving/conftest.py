"""Serving fixtures: the test's workspace as the environment of the processes a test starts
(gateways, a `tandem server`), every process killed when the test ends; `tandem` run in process
for the command's own checks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.cli import output
from tandem.core.config import Settings
from tandem.server import embedded

sys.path.insert(0, str(Path(__file__).parent.parent / "cli"))
sys.path.insert(0, str(Path(__file__).parent.parent / "sdk"))

from cli_helpers import run_cli
from processes import Processes, workspace_env


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
