"""Fixtures for the web tests; the workspace itself is built by `web_world.build_world`."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_world import World, build_world

from tandem.server.container import Services


@pytest.fixture
def world(services: Services, tmp_path: Path) -> World:
    """Projects `vision` and `audio`. ada: admin of vision; vic: viewer of vision; carl:
    compliance in vision; olga: member of audio only; root: workspace admin."""
    return build_world(services, tmp_path)
