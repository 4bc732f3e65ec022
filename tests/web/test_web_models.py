"""The model pages over HTTP and in a real browser: the list, a model's versions, a version's
lineage, evaluations with charts and model card, two versions compared; who may see them; and
user text escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_world import Tables, data_folder
from model_world import add_models
from starlette.testclient import TestClient
from test_web_data import charts_of, text_of
from web_world import XSS, World, shot, sign_in, sign_in_browser

from tandem.server.app import create_app


@pytest.fixture
def tables(world: World, tmp_path: Path) -> Tables:
    return data_folder(world.services, tmp_path)


@pytest.fixture
def evaluation(world: World, tables: Tables, tmp_path: Path) -> str:
    return add_models(world.services, tables, tmp_path, description=XSS)


def test_model_pages_for_a_viewer(world: World, api: TestClient, evaluation: str) -> None:
    sign_in(api, "vic")
    listed = api.get("/projects/vision/models")
    assert listed.status_code == 200
    assert 'href="/projects/vision/models/churn-lr"' in listed.text
    assert "champion=2" in text_of(listed.text)

    model = api.get("/projects/vision/models/churn-lr")
    assert model.status_code == 200
    rows = text_of(model.text)
    assert "champion → 2" in rows and "telco v1" in rows and "not evaluated" in rows
    assert "<script>window.__xss" not in model.text and "&lt;script&gt;" in model.text

    page = api.get("/projects/vision/models/churn-lr/versions/2")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Trained by run churn-fit" in text and "Training data: vision/telco v1 (train)" in text
    assert f"evaluation {evaluation[:12]}" in text and "vs version 1" in text
    specs = charts_of(page.text)
    kinds = [spec["title"].split(" (")[0] for spec in specs]
    assert kinds[:3] == ["ROC curve", "Precision-recall curve", "Calibration"]
    roc = specs[0]["series"][0]
    assert roc["x"][0] == 0 and roc["x"][-1] == 1 and len(roc["x"]) == len(roc["y"]) <= 201
    assert any(k.startswith("Selection rate and TPR across gender") for k in kinds)
    assert len(re.findall(r'class="chart" data-chart="\d+"', page.text)) == len(specs)
    assert "## Model details" not in page.text and "<h2>Model details</h2>" in page.text  # the card
    assert "<script>window.__xss" not in page.text

    compare = api.get("/projects/vision/models/churn-lr/compare?a=1&b=2")
    assert compare.status_code == 200
    assert "version 1 vs 2" in text_of(compare.text) and "roc_auc" in compare.text
    assert api.get("/projects/vision/models/churn-lr/versions/champion").status_code == 200


def test_model_pages_are_hidden_from_non_members(
    world: World, api: TestClient, evaluation: str
) -> None:
    sign_in(api, "olga")
    for path in ("/projects/vision/models", "/projects/vision/models/churn-lr",
                 "/projects/vision/models/churn-lr/versions/2",
                 "/projects/vision/models/churn-lr/compare"):  # fmt: skip
        assert api.get(path).status_code == 404, path
    with TestClient(api.app, base_url="http://127.0.0.1") as viewer:
        sign_in(viewer, "vic")
        assert viewer.get("/projects/vision/models/churn-lr/versions/7").status_code == 404
        assert viewer.get("/projects/vision/models/nope").status_code == 404


@pytest.fixture
def site(world: World, evaluation: str, serve: Any) -> Iterator[str]:
    with serve(create_app(services=world.services, allow_open=True)) as url:
        yield url


@pytest.mark.slow
def test_model_version_page_in_a_browser(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in_browser(page, site, "ada")
    page.goto(f"{site}/projects/vision")
    page.get_by_role("link", name="Models").click()
    page.wait_for_url("**/projects/vision/models")
    page.get_by_role("link", name="churn-lr", exact=True).click()
    page.get_by_role("link", name="2", exact=True).click()
    page.wait_for_url("**/models/churn-lr/versions/2")
    charts = page.locator(".chart[data-chart]")
    total = charts.count()
    assert total >= 5
    for i in range(total):  # drawn as they scroll into view
        charts.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        f"document.querySelectorAll('.chart[data-state=loaded]').length === {total}"
    )
    assert page.locator(".chart canvas").count() >= total
    assert page.evaluate("window.__xss") is None
    assert errors == []
    shot(page, "model-version")
    page.get_by_role("link", name="Compare with 1").click()
    page.wait_for_url("**/compare?a=1&b=2")
    assert page.get_by_role("rowheader", name="roc_auc").is_visible()
