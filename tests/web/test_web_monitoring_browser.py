"""The monitoring, alert, incident and postmortem pages in a real browser (Debian's Chromium), on a
desktop and a 390 px phone: charts drawn with their deployment marks, the heat map, nothing
scrolling sideways, no script errors; a product manager acknowledges an alert, opens an incident
from the form, ticks the playbook, and writes the postmortem; an admin rolls back in one click."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from incidents_page_world import add_incident_world
from monitoring_page_world import add_traffic, fire_alerts
from web_world import World, shot, sign_in_browser

from tandem.incidents.models import IncidentStatus, StatusChange
from tandem.server.app import create_app

WIDTHS = [1366, 390]


@pytest.fixture
def site(world: World, tmp_path: Path, serve: Any) -> Iterator[str]:
    """The incident world with six hours of traffic and two alerts firing."""
    add_incident_world(world.services, tmp_path)
    add_traffic(world.services)
    fire_alerts(world.services)
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


@pytest.fixture
def quiet_site(world: World, tmp_path: Path, serve: Any) -> Iterator[str]:
    """The incident world with no alert (a page would open an incident on prod itself)."""
    add_incident_world(world.services, tmp_path)
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


REFUSED_FORM = "the server responded with a status of 422"  # a form shown again with its error


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and REFUSED_FORM not in msg.text else None)  # fmt: skip
    return errors


def _no_sideways_scroll(page: Any, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px at {width} px"


def _draw_all_charts(page: Any) -> int:
    charts = page.locator(".chart[data-chart]")
    count = charts.count()
    for i in range(count):
        charts.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        f"document.querySelectorAll('.chart[data-state=loaded]').length === {count}"
    )
    return int(count)


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_monitoring_and_alerts_in_a_browser(browser: Any, site: str, width: int) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = _watch(page)
    sign_in_browser(page, site, "pam")
    page.goto(f"{site}/projects/vision/endpoints/prod")
    page.get_by_role("link", name="Monitoring", exact=True).click()
    page.wait_for_url("**/endpoints/prod/monitoring")
    assert page.get_by_role("img", name=re.compile("^Drift of 2 features")).is_visible()
    drawn = _draw_all_charts(page)
    assert drawn >= 8  # ROC AUC, accuracy, precision, recall, ECE, calibration, latency, KPI
    assert page.locator("table.heat-table tbody tr").count() == 2
    assert page.get_by_role("region", name="ROC AUC per window").is_visible()
    _no_sideways_scroll(page, width)
    shot(page, f"monitoring-{width}")
    page.get_by_role("link", name="7d").click()
    page.wait_for_url("**range=7d")
    _draw_all_charts(page)
    _no_sideways_scroll(page, width)

    page.goto(f"{site}/projects/vision/alerts")
    expect(page.locator("li.alert-item")).to_have_count(2)
    _no_sideways_scroll(page, width)
    shot(page, f"alerts-{width}")
    page.get_by_role("button", name="Acknowledge prod-drift").click()
    page.wait_for_url("**notice=acked")
    assert page.get_by_role("status").inner_text().startswith("Acknowledged")
    first = page.locator("li.alert-item").first
    first.get_by_text("Silence…").click()
    first.get_by_role("button", name="Silence").click()  # no reason given
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Say why you silence these alerts")
    reason = page.locator("details[open] textarea[name=comment]")
    assert reason.get_attribute("aria-invalid") == "true"
    reason.fill("retraining tonight")
    page.locator("details[open]").get_by_role("button", name="Silence").click()
    page.wait_for_url("**notice=silenced")
    assert "retraining tonight" in page.locator("table.silences").inner_text()
    _no_sideways_scroll(page, width)
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_an_incident_from_opening_to_postmortem_in_a_browser(
    browser: Any, quiet_site: str, width: int, world: World
) -> None:
    site = quiet_site
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = _watch(page)
    sign_in_browser(page, site, "pam")  # a product manager
    page.goto(f"{site}/projects/vision")
    page.get_by_role("link", name="Incidents", exact=True).click()
    page.get_by_text("Open an incident").click()
    page.get_by_role("button", name="Open the incident").click()  # the title left empty
    expect(page.get_by_role("alert")).to_contain_text("Give the incident a title")
    page.get_by_label("What is wrong?").fill("Churn scores look wrong for new customers")
    page.get_by_label("How bad is it?").select_option("sev2")
    page.get_by_label("Which endpoint?").select_option("prod")
    page.get_by_label("Kind").select_option("drift")
    page.get_by_label("What do you know so far?").fill("Sales saw odd scores since 9:00")
    page.get_by_role("button", name="Open the incident").click()
    page.wait_for_url("**/incidents/1?notice=opened")
    step = page.get_by_role("checkbox", name=re.compile("^Step 1: Look at the monitoring page"))
    expect(step).to_have_attribute("aria-checked", "false")
    step.click()
    page.wait_for_url("**notice=ticked**")
    expect(page.get_by_role("checkbox", name=re.compile("^Step 1:"))).to_have_attribute(
        "aria-checked", "true"
    )
    page.get_by_text("Acknowledge…").click()
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    page.wait_for_url("**notice=status**")
    page.get_by_label("Add a note").fill("tenure doubled in the logged inputs")
    page.get_by_role("button", name="Add to the timeline").click()
    page.wait_for_url("**notice=noted**")
    assert "tenure doubled" in page.locator("ol.incident-timeline").inner_text()
    assert page.get_by_role("button", name=re.compile("^Roll back")).count() == 0  # a PM: no
    _no_sideways_scroll(page, width)
    shot(page, f"incident-{width}")

    admin = browser.new_page(viewport={"width": width, "height": 900})
    admin_errors = _watch(admin)
    sign_in_browser(admin, site, "ada")
    admin.goto(f"{site}/projects/vision/incidents/1")
    admin.get_by_role("button", name="Roll back prod now").click()
    admin.wait_for_url("**notice=rolled-back**")
    assert "serving churn-lr@1 100%" in admin.locator("dl.facts").inner_text()
    assert admin_errors == []

    services = world.services
    services.incidents.set_status(services.owner, "vision", 1,
                                  StatusChange(status=IncidentStatus.RESOLVED))  # fmt: skip
    page.goto(f"{site}/projects/vision/incidents/1")
    page.get_by_role("link", name="write the postmortem").click()
    page.get_by_role("button", name="Start the postmortem").click()
    page.get_by_label("Summary: what happened").fill("Scores drifted after the v2 release.")
    page.get_by_label("Why 1").fill("v2 read tenure in days")
    page.get_by_label("Why 2").fill("the contract had no unit check")
    page.get_by_label("What went well").fill("the drift alert paged within the hour")
    page.get_by_label("Action 1").fill("Add a unit check to the training contract")
    page.get_by_label("Owner").first.select_option("pam")
    page.get_by_label("Due").first.fill("2026-12-31")
    page.get_by_label("No person named as a cause").check()
    _no_sideways_scroll(page, width)
    shot(page, f"postmortem-{width}")
    page.get_by_role("button", name="Save and submit for review").click()
    page.wait_for_url("**notice=submitted")
    assert page.get_by_role("status").inner_text().startswith("Submitted for review")
    expect(page.get_by_label("Action 1")).to_have_value("Add a unit check to the training contract")
    assert "ada publishes it" in page.locator("section[aria-labelledby=review-h]").inner_text()
    _no_sideways_scroll(page, width)
    page.goto(f"{site}/projects/vision")
    _no_sideways_scroll(page, width)
    assert errors == []
