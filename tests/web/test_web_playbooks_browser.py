"""In Debian's Chromium, on a desktop and a 390 px phone: a product manager previews a playbook
written in Markdown, fixes what the page says is wrong, saves it, replaces one from its own
Markdown, clears an incident's commander, and deletes a playbook after ticking the confirmation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from incidents_page_world import add_incident_world, open_incident
from test_web_monitoring_browser import _no_sideways_scroll, _watch
from web_world import World, shot, sign_in_browser

from tandem.server.app import create_app

WIDTHS = [1366, 390]


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_playbooks_and_no_commander_in_a_browser(
    browser: Any, world: World, tmp_path: Path, serve: Any, width: int
) -> None:
    from playwright.sync_api import expect

    services = world.services
    add_incident_world(services, tmp_path)
    incident = open_incident(services)
    with serve(create_app(services=services, allow_open=True)) as site:
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors = _watch(page)
        sign_in_browser(page, site, "pam")
        page.goto(f"{site}/projects/vision/incidents")
        page.get_by_role("link", name="Playbooks").click()
        page.wait_for_url("**/playbooks")
        page.get_by_text("Drift on a production endpoint").click()
        expect(page.locator("ol.playbook").first).to_contain_text("Compare with the last")
        _no_sideways_scroll(page, width)

        page.get_by_label("Kind of incident").fill("latency")
        steps = page.get_by_label("Steps in Markdown")
        steps.fill("# Slow answers\n\n- look at p99\n")
        page.get_by_role("button", name="Preview the steps").click()
        expect(page.get_by_role("alert")).to_contain_text("has no steps")
        expect(steps).to_have_attribute("aria-invalid", "true")
        expect(steps).to_have_value("# Slow answers\n\n- look at p99\n")  # what was typed stays
        steps.fill("# Slow answers\n\n- [ ] (commander) Look at p99\n- [ ] Scale out\n")
        page.get_by_role("button", name="Preview the steps").click()
        preview = page.get_by_role("region", name=re.compile("^Preview: Slow answers, 2 steps"))
        expect(preview).to_contain_text("Look at p99")
        _no_sideways_scroll(page, width)
        shot(page, f"playbooks-{width}")
        page.get_by_role("button", name="Save the playbook").click()
        page.wait_for_url("**notice=saved**")
        expect(page.get_by_role("status")).to_contain_text("The playbook is saved")
        latency = services.incidents.get_playbook(services.owner, "vision", "latency")
        assert [s.text for s in latency.steps] == ["Look at p99", "Scale out"]

        entry = page.locator("details.playbook-entry", has_text="Slow answers")
        entry.locator("summary").first.click()
        page.get_by_role("link", name="Edit latency").click()
        expect(page.get_by_role("heading", name="Replace the playbook latency")).to_be_visible()
        expect(page.get_by_label("Steps in Markdown")).to_have_value(
            "# Slow answers\n\n- [ ] (commander) Look at p99\n- [ ] Scale out\n"
        )
        entry.locator("summary").first.click()
        entry.get_by_text("Delete…").click()
        entry.get_by_role("button", name="Delete latency").click()  # not ticked: the browser asks
        assert "notice=deleted" not in page.url
        entry.get_by_role("checkbox").check()
        entry.get_by_role("button", name="Delete latency").click()
        page.wait_for_url("**notice=deleted**")
        assert page.locator("details.playbook-entry", has_text="Slow answers").count() == 0
        _no_sideways_scroll(page, width)

        page.goto(f"{site}/projects/vision/incidents/{incident.number}")
        page.get_by_text("Commander and responders…").click()
        page.get_by_label("Incident commander").select_option("")
        page.get_by_role("button", name="Save the people").click()
        page.wait_for_url("**notice=people**")
        expect(page.locator("dl.facts")).to_contain_text("Commander—")
        assert services.incidents.get(services.owner, "vision", incident.number).commander is None
        assert errors == []
