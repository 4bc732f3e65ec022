"""The web tests' workspace and helpers (a module of its own: test folders that each have a
conftest cannot import theirs by that name)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tandem.core.auth import Role
from tandem.identity.models import MemberSet, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services
from tandem.tracking.models import MetricColumns, RunBatch, RunCreate

# The browser tests' Chromium and screenshots (TANDEM_SCREENSHOTS=1 saves them to docs/).
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TAKE_SHOTS = os.environ.get("TANDEM_SCREENSHOTS") == "1"  # read now: fixtures clear TANDEM_*

PASSWORD = "correct horse battery"
XSS = '<script>window.__xss=1;alert(1)</script>"><img src=x onerror="window.__xss=1;alert(1)">'


@dataclass
class World:
    services: Services
    runs: dict[str, str] = field(default_factory=dict)  # name -> run id in "vision"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found[1]


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next: str = "/") -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "next": next, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _user(services: Services, name: str, role: Role = Role.VIEWER) -> None:
    services.identity.create_user(
        services.owner, UserCreate(name=name, role=role, password=PASSWORD)
    )


def build_world(services: Services, tmp_path: Path) -> World:
    """Projects `vision` and `audio`. ada: admin of vision; vic: viewer of vision; carl:
    compliance in vision; olga: member of audio only; root: workspace admin."""
    owner = services.owner
    for name in ("ada", "vic", "carl", "olga"):
        _user(services, name)
    _user(services, "root", Role.ADMIN)
    for project in ("vision", "audio"):
        services.projects.create(
            owner, ProjectCreate(name=project, description=f"{project} models")
        )
    for user, role in (("ada", Role.ADMIN), ("vic", Role.VIEWER), ("carl", Role.COMPLIANCE)):
        services.identity.set_member(owner, "vision", MemberSet(user=user, role=role))
    services.identity.set_member(owner, "audio", MemberSet(user="olga", role=Role.ADMIN))
    world = World(services)
    for i, model in enumerate(("resnet", "vit")):
        run = services.tracking.create_run(
            owner,
            "vision",
            RunCreate(
                name=f"{model}-run", params={"model": model, "lr": 0.01}, tags={"team": "cv"}
            ),
        )
        steps = list(range(20))
        services.tracking.log_batch(
            owner,
            run.id,
            RunBatch(
                metrics=MetricColumns(
                    key=["loss"] * 20 + ["auc"] * 20,
                    value=[1 / (s + 1 + i) for s in steps] + [0.5 + s / 50 + i / 10 for s in steps],
                    step=steps + steps,
                )
            ),
        )
        world.runs[model] = run.id
    secret = services.tracking.create_run(owner, "audio", RunCreate(name="audio-secret"))
    world.runs["audio"] = secret.id
    return world


def shot(page: Any, name: str) -> None:
    """Save a screenshot of `page` to docs/screenshots when TANDEM_SCREENSHOTS=1."""
    if TAKE_SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in_browser(page: Any, site: str, name: str) -> None:
    """Sign `name` in through the login form of a browser page."""
    page.goto(f"{site}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")
