"""In Debian's Chromium, on a desktop and a 390 px phone: the monitoring page's prediction drift,
contract and burn-rate charts drawn beside their tables; a product manager adds a monitor (told
what is wrong first), deletes it after ticking the confirmation, and changes the alert settings;
an incident commander names the responders and picks the playbook; and the alert list and the
incident page catch up with what others did without losing what is being typed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from incidents_page_world import add_incident_world, open_incident
from monitoring_page_world import add_traffic, fire_alerts
from test_web_monitoring_browser import _draw_all_charts, _no_sideways_scroll, _watch
from web_world import World, shot, sign_in_browser

from tandem.incidents.models import NoteCreate
from tandem.server.app import create_app

WIDTHS = [1366, 390]


@pytest.fixture
def site(world: World, tmp_path: Path, serve: Any) -> Iterator[str]:
    add_incident_world(world.services, tmp_path)
    add_traffic(world.services)
    fire_alerts(world.services)
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_monitors_and_alert_settings_in_a_browser(
    browser: Any, site: str, width: int, world: World
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = _watch(page)
    sign_in_browser(page, site, "pam")
    page.goto(f"{site}/projects/vision/endpoints/prod/monitoring")
    assert _draw_all_charts(page) >= 12  # with prediction drift, violations and burn rates
    for region in (
        "Positive rate per window",
        "Contract violations per window",
        "Burn rate: prod-error-rate per window",
        "Contract checks per window",
    ):
        expect(page.get_by_role("region", name=region)).to_be_visible()  # fmt: skip
    assert page.get_by_role("img", name=re.compile("^Violations of 1 checks")).is_visible()
    _no_sideways_scroll(page, width)

    page.get_by_text("Add a monitor on prod").click()
    page.get_by_label("Name").fill("prod-p99")
    page.get_by_label("What it watches").select_option("slo")
    page.get_by_label("Breached when").fill("burn_rate >>> 2")
    page.get_by_label("Settings").fill("objective=latency\ntarget=0.99\nthreshold_ms=150")
    page.get_by_label("Severity").select_option("page")
    _no_sideways_scroll(page, width)
    page.get_by_role("button", name="Add the monitor").click()
    expect(page.get_by_role("alert")).to_contain_text("is not FIGURE OP NUMBER")
    condition = page.get_by_label("Breached when")
    expect(condition).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("prod-p99")  # what was typed stays
    condition.fill("")
    page.get_by_role("button", name="Add the monitor").click()
    page.wait_for_url("**notice=created**")
    expect(page.get_by_role("status")).to_contain_text("The monitor is created")
    row = page.locator("table.monitors tr", has_text="prod-p99")
    row.get_by_text("Delete…").click()
    row.get_by_role("button", name="Delete prod-p99").click()  # not ticked: the browser asks
    assert "notice=deleted" not in page.url
    confirm = row.get_by_role("checkbox")
    expect(confirm).to_have_accessible_name(re.compile("Delete prod-p99 and all its results"))
    confirm.check()
    row.get_by_role("button", name="Delete prod-p99").click()
    page.wait_for_url("**notice=deleted**")
    assert page.locator("table.monitors tr", has_text="prod-p99").count() == 0
    _no_sideways_scroll(page, width)

    page.goto(f"{site}/projects/vision/alerts")
    page.get_by_text("Change the alert settings").click()
    page.get_by_label("Wait before the first message of a group").fill("soon")
    page.get_by_role("button", name="Save the settings").click()
    expect(page.get_by_role("alert")).to_contain_text("'soon' is not a duration")
    page.get_by_label("Wait before the first message of a group").fill("45s")
    page.get_by_role("button", name="Save the settings").click()
    page.wait_for_url("**notice=settings**")
    assert world.services.alerts.get_settings(world.services.owner, "vision").group_wait_s == 45
    _no_sideways_scroll(page, width)

    # someone else acknowledges while pam types a silence's reason: the list catches up on the
    # next round, and her typing stays where it was
    page.get_by_text("New silence (planned maintenance, a known issue)").click()
    reason = page.locator("#silence-new-comment")
    reason.fill("database migration tonight")
    services = world.services
    drift = next(a for a in services.alerts.list_alerts(services.owner, "vision")
                 if a.name == "prod-drift")  # fmt: skip
    services.alerts.ack(services.owner, "vision", drift.id, "on it")
    page.evaluate("window.tandemRefresh.now()")
    expect(page.locator(f"#alert-{drift.id}")).to_contain_text("Acknowledged")
    expect(reason).to_have_value("database migration tonight")
    expect(page.locator("#live-at")).to_contain_text("Updated")
    shot(page, f"alert-settings-{width}")
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_people_playbook_and_a_refreshing_incident_in_a_browser(
    browser: Any, world: World, tmp_path: Path, serve: Any, width: int
) -> None:
    from playwright.sync_api import expect

    services = world.services
    add_incident_world(services, tmp_path)
    services.incidents.set_playbook_markdown(
        services.owner, "vision", "latency", "# Slow answers\n\n- [ ] Look at p99 per version\n"
    )
    incident = open_incident(services)
    with serve(create_app(services=services, allow_open=True)) as site:
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors = _watch(page)
        sign_in_browser(page, site, "pam")
        page.goto(f"{site}/projects/vision/incidents/{incident.number}")
        page.get_by_text("Commander and responders…").click()
        page.get_by_label("Incident commander").select_option("pam")
        page.get_by_label("dana").check()
        _no_sideways_scroll(page, width)
        page.get_by_role("button", name="Save the people").click()
        page.wait_for_url("**notice=people**")
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text("pam")
        expect(facts).to_contain_text("dana")

        page.get_by_label("Follow another playbook").select_option("latency")
        page.get_by_role("button", name="Use this playbook").click()
        page.wait_for_url("**notice=playbook**")
        expect(
            page.get_by_role("checkbox", name=re.compile("^Step 1: Look at p99"))
        ).to_be_visible()

        note = page.get_by_label("Add a note")
        note.fill("p99 doubled after 9:00")  # typed, not sent yet
        services.incidents.add_note(services.owner, "vision", incident.number,
                                    NoteCreate(body="the gateway restarted at 9:02"))  # fmt: skip
        page.evaluate("window.tandemRefresh.now()")
        expect(page.locator("ol.incident-timeline")).to_contain_text("gateway restarted")
        expect(note).to_have_value("p99 doubled after 9:00")
        _no_sideways_scroll(page, width)
        shot(page, f"incident-people-{width}")
        assert errors == []
