"""CLI fixtures: the `tandem` command run in process with typer's CliRunner, against a real
embedded workspace (the `settings` one, SQLite or PostgreSQL) or a live server (`TANDEM_URL`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import run_cli

from tandem.cli import output
from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded


@pytest.fixture
def tandem(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tandem(*args)` runs the CLI on the test's workspace; no state survives the test."""
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables: no truncated cells
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    output.DEBUG["on"] = False
    yield run_cli
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    output.DEBUG["on"] = False
    embedded.close_all()


@pytest.fixture
def sdk(tandem: Any, settings: Settings) -> Client:
    """The SDK on the same embedded workspace, to seed data and check what the CLI did."""
    return Client(settings=settings)


@pytest.fixture
def remote(
    tandem: Any, live_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """A live server on loopback: the CLI reaches it through TANDEM_URL; the returned SDK
    client talks to it too."""
    monkeypatch.setenv("TANDEM_URL", live_url)
    client = Client(live_url, settings=settings)
    yield client
    client.close()
