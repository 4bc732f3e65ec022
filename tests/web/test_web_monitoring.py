"""The monitoring page of an endpoint over HTTP: its monitors with their last verdicts, drift per
feature over the hours as a heat map with its table, realised figures with bootstrap bands where
labels came and CBPE estimates where they did not, calibration, latency and errors per version,
the KPI, every chart carrying the deployment events; and the alert list's forms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from incidents_page_world import add_incident_world, add_members
from monitoring_page_world import HOUR, LABELLED, SHIFTED, Traffic, add_traffic, fire_alerts
from starlette.testclient import TestClient
from test_web_data import charts_of, text_of
from web_world import World, csrf_of, sign_in


@pytest.fixture
def traffic(world: World, tmp_path: Path) -> Traffic:
    add_incident_world(world.services, tmp_path)
    return add_traffic(world.services)


def test_the_monitoring_page(api: TestClient, world: World, traffic: Traffic) -> None:
    sign_in(api, "vic")  # a viewer reads it all
    endpoint = api.get("/projects/vision/endpoints/prod")
    assert 'href="/projects/vision/endpoints/prod/monitoring"' in endpoint.text
    page = api.get("/projects/vision/endpoints/prod/monitoring")
    assert page.status_code == 200, page.text
    html = page.text
    monitors = text_of(html.split('id="monitors-h"')[1].split("</section>")[0])
    assert f"{traffic.drift_monitor} feature-drift, per 1h" in monitors
    assert "breached" in monitors

    heat = html.split('id="drift-h"')[1].split("</section>")[0]
    assert '<svg class="heatmap"' in heat and 'role="img"' in heat
    assert heat.count('class="heat-5 drifted"') >= len(SHIFTED)  # tenure, shifted hours
    table = text_of(heat.split('class="grid heat-table"')[1])
    tenure_row = table.split("tenure")[1].split("MonthlyCharges")[0]
    assert tenure_row.count("*") == len(SHIFTED)  # drifted exactly in the shifted hours
    assert "*" not in table.split("MonthlyCharges")[1]

    specs = charts_of(html)
    titles = [s["title"] for s in specs]
    assert "ROC AUC" in titles and "Calibration" in titles
    assert {"Error rate", "p50 latency", "p99 latency", "retention_rate"} <= set(titles)
    auc = specs[titles.index("ROC AUC")]
    realised = next(s for s in auc["series"] if not s.get("dash"))
    estimated = next(s for s in auc["series"] if s.get("dash"))
    assert realised["label"] == "churn-lr@2" and estimated["label"] == "churn-lr@2 (estimated)"
    first = traffic.start / 1000
    assert realised["x"] == [first + h * HOUR / 1000 for h in LABELLED]
    assert all(lo <= y <= hi for lo, y, hi in zip(realised["low"], realised["y"],
                                                   realised["high"], strict=True))  # fmt: skip
    assert min(estimated["x"]) >= first + len(LABELLED) * HOUR / 1000  # estimates after labels
    for spec in specs:
        if spec["title"] != "Calibration":
            assert spec["marks"], f"{spec['title']} marks the deployment events"
    assert {m["kind"] for m in auc["marks"]} == {"deployed"}

    performance = text_of(html.split('id="performance-h"')[1].split("</section>")[0])
    assert "churn-lr@2 estimated" in performance  # in the table beside the chart
    kpis = text_of(html.split('id="kpis-h"')[1].split("</section>")[0])
    assert "endpoint 0.9" in kpis and "endpoint 0.85" in kpis
    events = text_of(html.split('id="events-h"')[1].split("</section>")[0])
    assert "deployed: churn-lr@2 100%" in events

    with TestClient(api.app, base_url="http://127.0.0.1") as olga:
        sign_in(olga, "olga")  # not a member: not told it exists
        assert olga.get("/projects/vision/endpoints/prod/monitoring").status_code == 404


def _alert_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/projects/vision/(?:alerts|silences)[^"]*)"',
                      html)  # fmt: skip


def test_the_alert_list_with_ack_and_silence(api: TestClient, world: World) -> None:
    add_members(world.services)
    fire_alerts(world.services)
    sign_in(api, "vic")
    page = api.get("/projects/vision/alerts")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "prod-drift page firing" in text and "prod-p99 ticket firing" in text
    assert text.index("prod-drift") < text.index("prod-p99")  # pages first
    assert "tenure drifted on prod" in text
    assert _alert_forms(page.text) == []  # a viewer acknowledges and silences nothing

    with TestClient(api.app, base_url="http://127.0.0.1") as pam:
        sign_in(pam, "pam")  # a product manager: responds, and may silence
        page = pam.get("/projects/vision/alerts")
        forms = _alert_forms(page.text)
        assert len([f for f in forms if f.endswith("/ack")]) == 2
        token = csrf_of(page.text)
        drift = next(a for a in world.services.alerts.list_alerts(world.services.owner, "vision")
                     if a.name == "prod-drift")  # fmt: skip
        acked = pam.post(f"/projects/vision/alerts/{drift.id}/ack", data={"csrf_token": token},
                         follow_redirects=False)  # fmt: skip
        assert acked.status_code == 303
        page = pam.get(acked.headers["location"])
        assert "Acknowledged: the alert stops escalating" in page.text
        item = text_of(page.text.split(f'id="alert-{drift.id}"')[1].split("</li>")[0])
        assert "Acknowledged by pam" in item
        again = pam.post(f"/projects/vision/alerts/{drift.id}/ack", data={"csrf_token": token})
        assert again.status_code == 409  # the service's reason, beside the alert
        assert "acknowledged by pam already" in again.text

        assert "alertname=prod-drift\nendpoint=prod" in page.text  # the silence form, prefilled
        typed = {"csrf_token": token, "alert": drift.id, "duration": "4h",
                 "matchers": "alertname=prod-drift\nendpoint=prod", "comment": ""}  # fmt: skip
        refused = pam.post("/projects/vision/silences", data=typed)
        assert refused.status_code == 422
        assert "Say why you silence these alerts" in refused.text
        form = refused.text.split(f'id="silence-{drift.id}-comment"')[1].split(">")[0]
        assert 'aria-invalid="true"' in form
        assert world.services.alerts.list_silences(world.services.owner, "vision") == []
        bad_end = pam.post("/projects/vision/silences",
                           data={**typed, "comment": "fixing", "ends": "yesterday"})  # fmt: skip
        assert bad_end.status_code == 422 and 'role="alert"' in bad_end.text

        done = pam.post("/projects/vision/silences", data={**typed, "comment": "retraining"},
                        follow_redirects=False)  # fmt: skip
        assert done.status_code == 303
        page = pam.get(done.headers["location"])
        silences = text_of(page.text.split('id="silences-h"')[1])
        assert 'alertname="prod-drift" endpoint="prod"' in silences and "pam retraining" in silences
        silence = world.services.alerts.list_silences(world.services.owner, "vision")[0]
        no_token = pam.post(f"/projects/vision/silences/{silence.id}/expire")
        assert no_token.status_code == 403
        ended = pam.post(f"/projects/vision/silences/{silence.id}/expire",
                         data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
        assert ended.status_code == 303
        assert "No silences" in pam.get(ended.headers["location"]).text
