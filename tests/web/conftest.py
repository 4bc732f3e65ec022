"""Fixtures for the web tests; the workspace itself is built by `web_world.build_world`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_world import CHROMIUM, World, build_world

from tandem.server.container import Services


@pytest.fixture
def world(services: Services, tmp_path: Path) -> World:
    """Projects `vision` and `audio`. ada: admin of vision; vic: viewer of vision; carl:
    compliance in vision; olga: member of audio only; root: workspace admin."""
    return build_world(services, tmp_path)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (the browser tests fail without it)."""
    from playwright.sync_api import sync_playwright  # an ImportError fails the test

    assert Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}"
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"],
        )  # fmt: skip
        yield launched
        launched.close()
