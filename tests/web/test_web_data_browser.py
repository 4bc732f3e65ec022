"""The dataset pages in a real browser (Playwright driving Debian's Chromium) against a live
server: the real Telco table's version page draws its charts, and two versions compare.

These fail, never skip, when Playwright or Chromium is missing. With TANDEM_SCREENSHOTS=1 they
save screenshots to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_world import Tables, add_people, add_telco, data_folder
from web_world import World, shot, sign_in_browser

from tandem.data.models import ColumnEdit, DatasetUpdate
from tandem.server.app import create_app
from tandem.tracking.models import RunCreate

pytestmark = pytest.mark.slow


@pytest.fixture
def tables(world: World, tmp_path: Path) -> Tables:
    return data_folder(world.services, tmp_path)


@pytest.fixture
def site(world: World, tables: Tables, serve: Any) -> Iterator[str]:
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


def test_dataset_pages_in_a_browser(browser: Any, site: str, world: World, tables: Tables) -> None:
    services = world.services
    add_telco(services, tables, "vision")
    add_people(services, tables, "vision")
    services.data.update_dataset(
        services.owner, "vision", "telco",
        DatasetUpdate(
            description="IBM's Telco customer churn sample: one row per customer.",
            owner="customer-analytics", tags={"domain": "churn", "source": "ibm"},
            columns={
                "customerID": ColumnEdit(description="Account id", owner="billing"),
                "tenure": ColumnEdit(description="Months as a customer"),
                "Churn": ColumnEdit(description="Left in the last month", owner="analytics"),
            },
        ),
    )  # fmt: skip
    run = services.tracking.create_run(services.owner, "vision", RunCreate(name="churn-xgb"))
    services.data.link_run(services.owner, run.id, "telco@v1", "train")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    sign_in_browser(page, site, "ada")
    page.goto(f"{site}/projects/vision")
    page.get_by_role("link", name="Datasets").click()
    page.wait_for_url("**/projects/vision/datasets")
    assert page.get_by_role("link", name="telco", exact=True).is_visible()
    page.get_by_label("Has column").fill("email")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**column=email**")
    assert page.get_by_role("link", name="people", exact=True).is_visible()
    assert page.get_by_role("link", name="telco", exact=True).count() == 0
    page.goto(f"{site}/projects/vision/datasets")
    shot(page, "datasets")

    page.get_by_role("link", name="telco", exact=True).click()
    page.wait_for_url("**/datasets/telco")
    page.get_by_text("Edit the catalog entry").click()
    page.get_by_label("Owner", exact=True).fill("churn-team")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**notice=saved")
    assert page.get_by_text("Catalog entry saved.").is_visible()
    assert services.data.get_dataset(services.owner, "vision", "telco").owner == "churn-team"
    shot(page, "dataset")

    page.get_by_role("link", name="v1", exact=True).click()
    page.wait_for_url("**/datasets/telco/versions/v1")
    tenure = page.locator('.chart[aria-label="Histogram of tenure"]')
    tenure.scroll_into_view_if_needed()
    page.wait_for_selector('.chart[aria-label="Histogram of tenure"][data-state=loaded] canvas')
    box = tenure.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    painted = page.evaluate(
        """() => {
          const c = document.querySelector('.chart[aria-label="Histogram of tenure"] canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let blue = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 150) blue++;
          return blue;
        }"""
    )
    assert painted > 500, "the histogram's bars are drawn"
    contract = page.locator('.chart[aria-label="Most frequent values of Contract"]')
    contract.scroll_into_view_if_needed()
    page.wait_for_selector('.chart[aria-label="Most frequent values of Contract"] canvas')
    page.evaluate("window.scrollTo(0, 0)")
    for el in page.locator(".chart[data-chart]").all():  # draw every chart for the screenshot
        el.scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('.chart[data-chart]')].every(e => e.dataset.state)"
    )
    assert page.locator(".chart[data-state=error]").count() == 0
    assert page.get_by_role("link", name="churn-xgb").is_visible()
    shot(page, "dataset-version")

    page.get_by_role("link", name="Compare with").count()  # only from v2
    page.goto(f"{site}/projects/vision/datasets/telco/diff")
    page.get_by_label("From (reference)").select_option("v1")
    page.get_by_label("To (current)").select_option("v2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/diff?a=v1&b=v2")
    assert page.locator("table.drift tbody tr").count() == 21
    assert page.locator("table.drift tr.drifted").count() >= 1
    monthly = page.locator('.chart[aria-label="Distribution of MonthlyCharges in v1 and v2"]')
    monthly.scroll_into_view_if_needed()
    page.wait_for_selector(
        '.chart[aria-label="Distribution of MonthlyCharges in v1 and v2"][data-state=loaded] canvas'
    )
    for el in page.locator(".chart[data-chart]").all():
        el.scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('.chart[data-chart]')].every(e => e.dataset.state)"
    )
    assert page.locator(".chart[data-state=error]").count() == 0
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "dataset-diff")
    assert errors == []  # no script errors, no failed loads (charts, styles)
