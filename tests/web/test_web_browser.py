"""The web UI in a real browser (Playwright driving Debian's Chromium) against a live server.

These fail, never skip, when Playwright or Chromium is missing: CI installs both. With
TANDEM_SCREENSHOTS=1 they also save screenshots of the main pages to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_world import XSS, World, shot, sign_in_browser

from tandem.server.app import create_app
from tandem.tracking.models import MetricColumns, RunBatch, RunCreate

pytestmark = pytest.mark.slow


@pytest.fixture
def site(world: World, serve: Any) -> Iterator[str]:
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


def test_a_day_in_the_ui(browser: Any, site: str, world: World) -> None:
    services = world.services
    for i in range(3):  # longer histories, for a chart worth looking at
        run = services.tracking.create_run(
            services.owner,
            "vision",
            RunCreate(name=f"sweep-{i}", params={"model": "vit", "lr": 10**-i}),
        )
        steps = list(range(200))
        loss = [2 / (s / 20 + 1 + i) for s in steps]
        auc = [0.9 - 0.4 / (s / 10 + 1 + i) for s in steps]
        columns = MetricColumns(
            key=["loss"] * 200 + ["auc"] * 200, value=loss + auc, step=steps * 2
        )
        services.tracking.log_batch(services.owner, run.id, RunBatch(metrics=columns))
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    sign_in_browser(page, site, "ada")
    assert page.get_by_role("link", name="vision").is_visible()
    shot(page, "projects")

    page.get_by_role("link", name="vision").click()
    page.get_by_role("link", name="Runs", exact=True).click()  # the project page leads to them
    page.get_by_label("Filter").fill("params.model = 'vit'")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**filter=**")
    assert page.get_by_role("link", name="vit-run").is_visible()
    assert page.get_by_role("link", name="resnet-run").count() == 0
    shot(page, "runs")

    page.get_by_label("Select sweep-0").check()
    page.get_by_label("Select sweep-2").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/compare?runs=**")
    page.wait_for_selector(".chart[data-state=loaded] canvas")
    assert page.locator("tr.differs").count() >= 1
    shot(page, "compare")

    page.go_back()
    page.get_by_role("link", name="sweep-1").click()
    page.wait_for_selector(".chart[data-key=loss][data-state=loaded] canvas")
    chart = page.locator(".chart[data-key=loss] .u-over")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 40, steps=5)
    page.mouse.up()  # drag-to-zoom
    zoomed = page.evaluate("document.querySelector('.chart[data-key=loss]')._plot.scales.x.max")
    assert zoomed < 199
    chart.dblclick()
    reset = page.evaluate("document.querySelector('.chart[data-key=loss]')._plot.scales.x.max")
    assert reset >= 199
    shot(page, "run")

    page.goto(f"{site}/projects/vision/members")
    assert page.get_by_role("button", name="Add").is_visible()
    shot(page, "members")
    page.goto(f"{site}/projects/vision/audit")
    assert page.locator("table.audit tbody tr").count() > 3
    shot(page, "audit")
    assert errors == []  # no script errors, no failed loads (charts, styles, icons)

    response = page.goto(f"{site}/projects/audio")  # not a member: not told it exists
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/login")
    page.goto(f"{site}/projects/vision")
    assert page.url.startswith(f"{site}/login?next=")


def test_payloads_never_run(browser: Any, site: str, world: World, tmp_path: Path) -> None:
    services = world.services
    run = services.tracking.create_run(
        services.owner, "vision", RunCreate(name=XSS, params={"model": XSS}, tags={"note": XSS})
    )
    source = tmp_path / "payload"
    source.write_text(XSS)
    for path in (f"{XSS}.txt", f"{XSS}.svg", f"{XSS}.html"):
        services.tracking.upload_artifact(services.owner, run.id, path, source)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_browser(page, site, "ada")
    other = world.runs["vit"]
    for path in (
        "/projects/vision",
        f"/projects/vision/runs/{run.id}",
        f"/projects/vision/runs/{run.id}?preview={XSS}.txt",
        f"/projects/vision/runs/{run.id}?preview={XSS}.html",
        f"/projects/vision/runs/{run.id}/preview/{XSS}.svg",
        f"/projects/vision/compare?runs={run.id},{other}",
        f"/projects/vision/runs?filter={XSS}&columns=params.model",
        "/projects/vision/audit",
    ):
        page.goto(site + path.replace("#", "%23"))
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None, path
    assert dialogs == []


def test_the_sign_in_page_says_why_and_how_to_get_in(browser: Any, site: str) -> None:
    """Users exist: the page says why it asks and how to get a password or a token."""
    for width in (1366, 390):
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.goto(f"{site}/login")
        why = page.locator("#why-sign-in")
        assert why.is_visible()
        text = why.inner_text()
        assert "This server has users" in text and "open to this machine" in text
        assert "tandem users create NAME --role admin --password" in text
        assert "tandem tokens create NAME --user USER" in text and "TANDEM_TOKEN" in text
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.close()


def test_the_sign_in_page_of_an_open_workspace(browser: Any, services: Any, serve: Any) -> None:
    """No users, on loopback: the page says the workspace is open, and nothing about tokens."""
    assert services.identity.has_users() is False
    with serve(create_app(services=services, allow_open=True)) as site:
        for width in (1366, 390):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(f"{site}/login")
            assert page.get_by_text("has no users yet and is open on this machine").is_visible()
            assert page.locator("#why-sign-in").count() == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.close()
