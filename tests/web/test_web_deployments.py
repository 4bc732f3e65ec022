"""The endpoint pages over HTTP and in a real browser (desktop and a 390 px phone): the endpoints
list in the project navigation, an endpoint's split, its canary's steps with the guard values,
the charts per version with their numbers, the shadow comparison, the history timeline and what
served at a moment; the promote / pause / rollback forms only for the roles that may, with a
confirmation, refusing a stale page; and where each version serves on the project and model
version pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_world import data_folder
from model_world import add_models
from starlette.testclient import TestClient
from test_web_data import charts_of, text_of
from web_world import PASSWORD, World, csrf_of, shot, sign_in, sign_in_browser

from tandem.core.auth import Role
from tandem.core.clock import now_ms
from tandem.deployments.models import (
    DeployRequest,
    EndpointCreate,
    LatencyBuckets,
    ShadowFigures,
    StatsReport,
    WindowStats,
)
from tandem.identity.models import MemberSet, UserCreate
from tandem.registry.models import Stage
from tandem.server.app import create_app

MINUTE = 60_000
READY = Stage.READY_FOR_PRODUCTION


def _window(deployment: str, start: int, requests: int, errors: int, bucket: int,
            shadow: ShadowFigures | None = None) -> WindowStats:  # fmt: skip
    counts = [0] * (len(LatencyBuckets.BOUNDS_MS) + 1)
    counts[bucket] = requests
    return WindowStats(deployment=deployment, start=start, end=start + 1000, requests=requests,
                       errors=errors, latency_counts=counts, shadow=shadow)  # fmt: skip


@pytest.fixture
def released(world: World, tmp_path: Path) -> dict[str, Any]:
    """vision: churn-lr@1 serves `prod` (production) and a canary of @2 takes 10% of it, with
    ten minutes of reported traffic; `staging` serves @1 with @2 in shadow. dana is a data
    scientist of vision (may change staging, not prod)."""
    services, owner = world.services, world.services.owner
    add_models(services, data_folder(services, tmp_path), tmp_path)
    for version in ("1", "2"):
        services.registry.set_stage(owner, "vision", "churn-lr", version, READY)
    services.identity.create_user(owner, UserCreate(name="dana", password=PASSWORD))
    services.identity.set_member(owner, "vision", MemberSet(user="dana", role=Role.DATA_SCIENTIST))
    deployments = services.deployments
    deployments.create_endpoint(owner, "vision", EndpointCreate(name="prod", production=True))
    deployments.create_endpoint(owner, "vision", EndpointCreate(name="staging"))
    deployments.deploy(
        owner,
        "vision",
        "prod",
        DeployRequest(model="churn-lr", version="1", message="first release"),
    )
    canary = deployments.deploy(owner, "vision", "prod", DeployRequest(
        model="churn-lr", version="2", strategy="canary", steps=[10, 50, 100],
        interval_s=3600, guards=["error_rate < 0.05", "p99_ms < 100"], min_samples=50,
        message="C=0.1",
    ))  # fmt: skip
    assert canary.rollout is not None
    candidate, baseline = canary.rollout.candidate, canary.rollout.baseline
    assert baseline is not None
    start = now_ms() - 10 * MINUTE
    windows = []
    for minute in range(10):
        at = start + minute * MINUTE
        windows += [_window(baseline, at, 90, 0, 4), _window(candidate, at, 10, minute % 2, 6)]
    deployments.report(owner, "vision", "prod", StatsReport(
        gateway="gw-1", policy_version=canary.policy_version, windows=windows))  # fmt: skip
    deployments.deploy(owner, "vision", "staging", DeployRequest(model="churn-lr", version="1"))
    shadowed = deployments.deploy(owner, "vision", "staging", DeployRequest(
        model="churn-lr", version="2", strategy="shadow", mirror=100,
        guards=["agreement > 0.9", "score_diff < 0.1"], min_samples=10,
    ))  # fmt: skip
    assert shadowed.rollout is not None
    primary = next(d.id for d in shadowed.deployments if d.role.value == "primary")
    judged = shadowed.rollout.step_started_at  # a window of the step being judged
    compared = ShadowFigures(compared=40, agreed=38, abs_diff_sum=1.2, latency_ms_sum=20.0)
    deployments.report(owner, "vision", "staging", StatsReport(
        gateway="gw-1", policy_version=shadowed.policy_version,
        windows=[_window(primary, judged, 40, 0, 3),
                 _window(shadowed.rollout.candidate, judged, 0, 0, 3, compared)],
    ))  # fmt: skip
    return {"canary": canary}


def _forms(html: str) -> list[str]:
    return re.findall(r'action="/projects/vision/endpoints/[a-z]+/([a-z]+)"', html)


def test_endpoint_pages_for_a_viewer(api: TestClient, released: dict[str, Any]) -> None:
    sign_in(api, "vic")
    project = api.get("/projects/vision")
    assert project.status_code == 200
    assert 'href="/projects/vision/endpoints"' in project.text  # in the project navigation
    serving = text_of(project.text.split('id="serving-h"')[1].split("</section>")[0])
    assert "prod production churn-lr@1 primary 90%" in serving
    assert "prod production churn-lr@2 canary 10%" in serving

    listed = api.get("/projects/vision/endpoints")
    assert listed.status_code == 200
    rows = text_of(listed.text)
    assert "prod production" in rows and "churn-lr@1 90%, churn-lr@2 10%" in rows
    assert "canary running" in rows and "shadow awaiting-promotion" in rows
    assert 'aria-label="Traffic split of prod: churn-lr@1 90%, churn-lr@2 10%"' in listed.text

    page = api.get("/projects/vision/endpoints/prod")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Step 1 10% current Step 2 50% next Step 3 100% next" in text
    assert "error_rate < 0.05" in text and "p99_ms < 100" in text
    assert _forms(page.text) == []  # a viewer changes nothing
    specs = charts_of(page.text)
    assert [s["title"] for s in specs] == ["Requests per bucket", "Error rate", "p50 latency",
                                           "p99 latency"]  # fmt: skip
    requests = {s["label"]: sum(s["y"]) for s in specs[0]["series"]}
    assert requests == {"churn-lr@1": 900, "churn-lr@2": 100}
    assert "churn-lr@2 100 5 5.00%" in text  # the totals beside the charts
    assert 'href="/projects/vision/models/churn-lr/versions/2"' in page.text
    timeline = page.text.split('class="timeline"')[1]
    assert timeline.index("event-deployed") < timeline.index("first release")
    assert "C=0.1" in timeline

    first = released["canary"].rollout.started_at - 1
    served = api.get(f"/projects/vision/endpoints/prod?at={first}")
    assert "prod served churn-lr@1 100%" in text_of(served.text)
    assert "first release" in text_of(served.text.split('class="served-at')[1])
    bad = api.get("/projects/vision/endpoints/prod?at=last+tuesday")
    assert bad.status_code == 200 and "invalid time" in bad.text

    staging = text_of(api.get("/projects/vision/endpoints/staging").text)
    assert "Shadow comparison" in staging and "receives a copy of 100% of requests" in staging
    assert "agreement > 0.9 0.95 holds" in staging

    version = api.get("/projects/vision/models/churn-lr/versions/2")
    assert version.status_code == 200
    where = text_of(version.text.split('id="serving-h"')[1].split("</section>")[0])
    assert "prod production churn-lr@2 canary 10%" in where and "staging" in where


def test_buttons_only_for_the_roles_that_may(api: TestClient, released: dict[str, Any]) -> None:
    sign_in(api, "ada")  # admin of vision: may release to production
    assert _forms(api.get("/projects/vision/endpoints/prod").text) == [
        "promote",
        "pause",
        "rollback",
    ]
    with TestClient(api.app, base_url="http://127.0.0.1") as dana:
        sign_in(dana, "dana")  # a data scientist: staging yes, production no
        assert _forms(dana.get("/projects/vision/endpoints/prod").text) == []
        assert _forms(dana.get("/projects/vision/endpoints/staging").text) == [
            "promote",
            "rollback",
        ]
        page = dana.get("/projects/vision/endpoints/prod")
        refused = dana.post("/projects/vision/endpoints/prod/rollback",
                            data={"csrf_token": csrf_of(page.text)})  # fmt: skip
        assert refused.status_code == 403
    with TestClient(api.app, base_url="http://127.0.0.1") as olga:
        sign_in(olga, "olga")  # not a member: not told it exists
        for path in ("/projects/vision/endpoints", "/projects/vision/endpoints/prod"):
            assert olga.get(path).status_code == 404


def test_rollback_from_the_page(api: TestClient, released: dict[str, Any], world: World) -> None:
    sign_in(api, "ada")
    page = api.get("/projects/vision/endpoints/prod")
    token = csrf_of(page.text)
    version = re.search(r'name="expected_policy_version" value="(\d+)"', page.text)
    assert version
    no_token = api.post("/projects/vision/endpoints/prod/rollback", data={"message": "x"})
    assert no_token.status_code == 403
    done = api.post(
        "/projects/vision/endpoints/prod/rollback",
        data={"csrf_token": token, "expected_policy_version": version[1],
              "message": "scores drift on new customers"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith("notice=rolled-back")
    after = api.get(done.headers["location"])
    assert "Rolled back" in after.text
    assert 'aria-label="Traffic split of prod: churn-lr@1 100%"' in after.text
    latest = after.text.split('class="timeline"')[1].split("</li>")[0]
    assert "event-rolled-back" in latest and "scores drift on new customers" in latest
    stale = api.post(
        "/projects/vision/endpoints/prod/promote",
        data={"csrf_token": token, "expected_policy_version": version[1]},
    )  # the page of before the rollback
    assert stale.status_code == 409 and 'role="alert"' in stale.text
    history = world.services.deployments.history(world.services.owner, "vision", "prod")
    assert history.items[0].kind.value == "rolled-back"


@pytest.fixture
def site(world: World, released: dict[str, Any], serve: Any) -> Iterator[str]:
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("width", [1366, 390])
def test_endpoint_page_in_a_browser(
    browser: Any, site: str, width: int, world: World, released: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in_browser(page, site, "ada")
    page.goto(f"{site}/projects/vision")
    page.get_by_role("link", name="Endpoints", exact=True).click()
    page.wait_for_url("**/projects/vision/endpoints")
    page.get_by_role("link", name="prod", exact=True).click()
    page.wait_for_url("**/endpoints/prod")
    page.goto(page.url + "?every=1")  # the live refresh, every second rather than ten
    assert page.get_by_role("img", name=re.compile("Traffic split of prod")).is_visible()
    charts = page.locator(".chart[data-chart]")
    assert charts.count() == 4
    for i in range(4):
        charts.nth(i).scroll_into_view_if_needed()
    page.wait_for_function("document.querySelectorAll('.chart[data-state=loaded]').length === 4")
    # a gateway reports 50 more requests of the canary: the table and charts follow, live
    canary = released["canary"]
    more = _window(canary.rollout.candidate, now_ms() - 5000, 50, 0, 6)
    report = StatsReport(gateway="gw-2", policy_version=canary.policy_version, windows=[more])
    world.services.deployments.report(world.services.owner, "vision", "prod", report)
    cell = page.locator("table.totals tbody tr").nth(1).locator("td").first
    expect(cell).to_have_text("150", timeout=20_000)  # polled here: the page's CSP forbids eval
    expect(page.locator("#live-at")).to_contain_text("updated ")
    expect(page.locator(".chart[data-state=loaded]")).to_have_count(4)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
    shot(page, f"endpoint-{width}")

    confirm = page.locator("details.confirm-rollback")
    confirm.get_by_text("Roll back…").click()  # the confirmation opens
    confirm.get_by_label("Why").fill("p99 doubled on the canary")
    page.get_by_role("button", name="Confirm: roll back prod").click()
    page.wait_for_url("**notice=rolled-back")
    assert page.get_by_role("status").first.inner_text().startswith("Rolled back")
    assert page.locator("ol.timeline li").first.get_attribute("class") == "event event-rolled-back"
    assert page.get_by_role("link", name="churn-lr@2").first.is_visible()
    assert errors == []
