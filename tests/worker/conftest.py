"""The worker tests' world: the test's workspace as the environment of the processes a test
starts (`tandem worker`, `tandem server --with-worker`), every process killed when the test
ends; and the worker's loop in process over the test's `services`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "sdk"))

from processes import Processes, workspace_env

from tandem.core.config import Settings


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment of a process on this test's workspace (embedded, no server)."""
    return workspace_env(settings)


@pytest.fixture
def processes(tmp_path: Path, env: dict[str, str]) -> Iterator[Processes]:
    """Processes that are killed when the test ends, pass or fail."""
    started = Processes(tmp_path, env)
    yield started
    started.close()
