"""Over HTTP, what a product manager or an incident commander does in the web UI without the CLI:
the monitoring page's prediction drift, contract violations per check and SLO burn rates (each
chart with its numbers beside it); creating and deleting a monitor; the alert settings; naming
an incident's commander and responders and choosing its playbook. Bad input comes back beside
the form with what was typed; and a member who may not is refused before the input is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from incidents_page_world import add_incident_world, open_incident
from monitoring_page_world import SHIFTED, Traffic, add_traffic
from starlette.testclient import TestClient
from test_web_data import charts_of, text_of
from web_world import World, csrf_of, sign_in

from tandem.monitoring.models import SignalKind

MONITORING = "/projects/vision/endpoints/prod/monitoring"


@pytest.fixture
def traffic(world: World, tmp_path: Path) -> Traffic:
    add_incident_world(world.services, tmp_path)
    return add_traffic(world.services)


@pytest.fixture
def incidents(world: World, tmp_path: Path) -> World:
    add_incident_world(world.services, tmp_path)
    return world


def _as(api: TestClient, name: str) -> None:
    """Sign in as another member (the previous session's cookies dropped first)."""
    api.cookies.clear()
    sign_in(api, name)


def _section(html: str, slug: str) -> str:
    return html.split(f'id="{slug}-h"')[1].split("</section>")[0]


def test_prediction_drift_contract_and_burn_rates(api: TestClient, traffic: Traffic) -> None:
    sign_in(api, "vic")
    html = api.get(MONITORING).text
    specs = {s["title"]: s for s in charts_of(html)}

    score = specs["Score distribution drift"]
    assert [s["label"] for s in score["series"]] == ["churn-lr@2"]
    drift = score["series"][0]["y"]
    assert all(drift[h] > 1 for h in SHIFTED) and max(drift[: min(SHIFTED)]) < 0.2
    rate = specs["Positive rate"]["series"][0]["y"]
    assert all(rate[h] < rate[0] / 2 for h in SHIFTED)  # longer tenure: fewer churners
    prediction = text_of(_section(html, "prediction"))
    assert "Positive rate per window" in prediction and "churn-lr@2" in prediction

    violations = specs["Contract violations"]["series"][0]["y"]
    assert [v > 0 for v in violations] == [h in SHIFTED for h in range(len(violations))]
    contract = _section(html, "contract")
    checks = text_of(contract.split('class="grid checks-table"')[1])
    row = checks.split("tenure: range")[1]
    assert row.split().count("violated") == len(SHIFTED)
    assert 'aria-labelledby="checks-desc"' in contract  # the heat map of checks, described

    burn = specs["Burn rate: prod-error-rate"]
    labels = [s["label"] for s in burn["series"]]
    assert "page: 1h and 5m" in labels and "ticket: 3d and 6h" in labels
    assert "page: 1h and 5m threshold 14.4x" in labels  # the threshold, dashed
    threshold = next(s for s in burn["series"] if s["label"].endswith("14.4x"))
    assert threshold["dash"] is True and set(threshold["y"]) == {14.4}
    assert burn["marks"]  # the deployment events, as on every chart
    table = text_of(_section(html, "slo"))
    assert "Long Short Threshold Fires" in table and "14.4x" in table and "3d and 6h" in table


def _form_error(html: str) -> str:
    return text_of(html.split('role="alert"')[1].split("</p>")[0])


def test_a_product_manager_creates_and_deletes_a_monitor(
    api: TestClient, world: World, traffic: Traffic
) -> None:
    services = world.services
    sign_in(api, "vic")  # a viewer: no forms
    assert 'action="/projects/vision/endpoints/prod/monitors"' not in api.get(MONITORING).text

    _as(api, "pam")
    page = api.get(MONITORING)
    assert 'action="/projects/vision/endpoints/prod/monitors"' in page.text
    assert "Default: <code>drifted_share &gt;= 0.25</code>" in page.text  # the kinds explained
    token = csrf_of(page.text)
    typed = {"csrf_token": token, "name": "prod-p99", "kind": "slo", "window": "1h",
             "params": "objective=latency\ntarget=0.99\nthreshold_ms=150", "severity": "page",
             "condition": "burn_rate >>> 2", "owner": "pam"}  # fmt: skip
    refused = api.post("/projects/vision/endpoints/prod/monitors", data=typed)
    assert refused.status_code == 422
    assert "is not FIGURE OP NUMBER" in _form_error(refused.text)
    field = refused.text.split('id="m-condition"')[1].split(">")[0]
    assert 'aria-invalid="true"' in field and "burn_rate &gt;&gt;&gt; 2" in field  # kept
    assert '<details class="edit" open>' in refused.text

    bad_params = api.post("/projects/vision/endpoints/prod/monitors",
                          data={**typed, "condition": "", "params": "target"})  # fmt: skip
    assert bad_params.status_code == 422 and "use KEY=VALUE" in _form_error(bad_params.text)
    bad_name = api.post("/projects/vision/endpoints/prod/monitors",
                        data={**typed, "condition": "", "name": "Not A Name"})  # fmt: skip
    assert bad_name.status_code == 422 and "lowercase letters" in _form_error(bad_name.text)
    taken = api.post("/projects/vision/endpoints/prod/monitors",
                     data={**typed, "condition": "", "name": traffic.drift_monitor})  # fmt: skip
    assert taken.status_code == 409 and "has a monitor named" in _form_error(taken.text)
    assert "prod-p99" not in [m.name for m in services.monitoring.list_monitors(
        services.owner, "vision")]  # fmt: skip

    made = api.post("/projects/vision/endpoints/prod/monitors",
                    data={**typed, "condition": ""}, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303
    page = api.get(made.headers["location"])
    assert "The monitor is created" in page.text
    monitor = services.monitoring.get(services.owner, "vision", "prod-p99")
    assert monitor.kind is SignalKind.SLO and monitor.owner == "pam"
    assert monitor.params == {"objective": "latency", "target": 0.99, "threshold_ms": 150}
    assert "prod-p99" in text_of(_section(page.text, "monitors"))

    url = "/projects/vision/endpoints/prod/monitors/prod-p99/delete"
    unconfirmed = api.post(url, data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm" in _form_error(unconfirmed.text)
    services.monitoring.get(services.owner, "vision", "prod-p99")  # still there
    gone = api.post(url, data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False)
    assert gone.status_code == 303
    assert "The monitor and its results are deleted" in api.get(gone.headers["location"]).text
    assert "prod-p99" not in [m.name for m in services.monitoring.list_monitors(
        services.owner, "vision")]  # fmt: skip
    assert api.post(url, data={"csrf_token": token, "confirm": "yes"}).status_code == 404


def test_the_alert_settings_from_the_alert_list(api: TestClient, incidents: World) -> None:
    services = incidents.services
    sign_in(api, "vic")
    page = api.get("/projects/vision/alerts")
    assert 'action="/projects/vision/alert-settings"' not in page.text
    assert "Escalate after" in text_of(_section(page.text, "settings"))

    _as(api, "pam")
    page = api.get("/projects/vision/alerts")
    token = csrf_of(page.text)
    typed = {"csrf_token": token, "group_by": "alertname, endpoint", "group_wait": "45s",
             "group_interval": "5m", "repeat_interval": "soon", "escalate_after": "20m",
             "pagerduty_routing_key": "", "pagerduty_url": ""}  # fmt: skip
    refused = api.post("/projects/vision/alert-settings", data=typed)
    assert refused.status_code == 422 and "'soon' is not a duration" in _form_error(refused.text)
    assert 'value="45s"' in refused.text  # what was typed stays
    assert services.alerts.get_settings(services.owner, "vision").group_wait_s != 45
    wrong_key = api.post("/projects/vision/alert-settings",
                         data={**typed, "repeat_interval": "4h",
                               "pagerduty_routing_key": "not a key!"})  # fmt: skip
    assert wrong_key.status_code == 422 and "routing_key" in _form_error(wrong_key.text)
    assert "not a key!" not in wrong_key.text  # a secret is never echoed

    saved = api.post("/projects/vision/alert-settings",
                     data={**typed, "repeat_interval": "4h", "pagerduty_routing_key": "abc123XYZ"},
                     follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    page = api.get(saved.headers["location"])
    assert "The alert settings are saved" in page.text
    settings = services.alerts.get_settings(services.owner, "vision")
    assert (settings.group_wait_s, settings.repeat_interval_s, settings.escalate_after_s) == (
        45, 4 * 3600, 20 * 60)  # fmt: skip
    assert settings.pagerduty_routing_key == "…3XYZ"
    assert "abc123XYZ" not in page.text and "ending …3XYZ" in page.text
    kept = api.post("/projects/vision/alert-settings", data=typed | {"repeat_interval": "4h"},
                    follow_redirects=False)  # fmt: skip
    assert kept.status_code == 303  # an empty key keeps the one set
    assert services.alerts.get_settings(services.owner, "vision").pagerduty_routing_key
    removed = api.post("/projects/vision/alert-settings",
                       data=typed | {"repeat_interval": "4h", "remove_pagerduty": "yes"},
                       follow_redirects=False)  # fmt: skip
    assert removed.status_code == 303
    assert services.alerts.get_settings(services.owner, "vision").pagerduty_routing_key is None


def test_commander_responders_and_playbook_from_the_incident_page(
    api: TestClient, incidents: World
) -> None:
    services = incidents.services
    services.incidents.set_playbook_markdown(
        services.owner, "vision", "latency", "# Slow answers\n\n- [ ] Look at p99 per version\n"
    )
    incident = open_incident(services)
    url = f"/projects/vision/incidents/{incident.number}"
    sign_in(api, "vic")
    assert f'action="{url}/people"' not in api.get(url).text

    _as(api, "pam")
    page = api.get(url)
    token = csrf_of(page.text)
    assert f'action="{url}/people"' in page.text and f'action="{url}/playbook"' in page.text
    stranger = api.post(f"{url}/people", data={"csrf_token": token, "commander": "mallory"})
    assert stranger.status_code == 422 and "is not a member" in _form_error(stranger.text)
    done = api.post(f"{url}/people",
                    data={"csrf_token": token, "commander": "pam", "responders": ["dana", "ada"]},
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    page = api.get(done.headers["location"])
    assert "The commander and responders are changed" in page.text
    now = services.incidents.get(services.owner, "vision", incident.number)
    assert now.commander == "pam" and sorted(now.responders) == ["ada", "dana"]
    assert "responders" in text_of(page.text.split('id="timeline-h"')[1])
    api.post(f"{url}/people", data={"csrf_token": token, "commander": "pam",
                                    "responders": ["dana"]})  # fmt: skip
    assert services.incidents.get(services.owner, "vision", incident.number).responders == ["dana"]
    assert "nobody (clear the commander)" in api.get(url).text
    nobody = {"csrf_token": token, "commander": "", "responders": ["dana"]}
    cleared = api.post(f"{url}/people", data=nobody, follow_redirects=False)
    assert cleared.status_code == 303
    now = services.incidents.get(services.owner, "vision", incident.number)
    assert now.commander is None and now.responders == ["dana"]
    assert "<dt>Commander</dt><dd>—</dd>" in api.get(url).text

    empty = api.post(f"{url}/playbook", data={"csrf_token": token, "playbook": ""})
    assert empty.status_code == 422 and "Pick a playbook" in _form_error(empty.text)
    chosen = api.post(f"{url}/playbook", data={"csrf_token": token, "playbook": "latency"},
                      follow_redirects=False)  # fmt: skip
    assert chosen.status_code == 303
    now = services.incidents.get(services.owner, "vision", incident.number)
    assert now.playbook == "latency" and [s.text for s in now.steps] == ["Look at p99 per version"]
    api.post(f"{url}/steps/1", data={"csrf_token": token, "done": "true"})
    page = api.get(url)
    assert f'action="{url}/playbook"' not in page.text  # a ticked playbook stays
    late = api.post(f"{url}/playbook", data={"csrf_token": token, "playbook": "drift"})
    assert late.status_code == 409 and "has ticked steps" in _form_error(late.text)


BAD_FORMS = {  # each breaks a rule of its form: a member who may must be told which
    "/projects/vision/endpoints/prod/monitors": {"name": "Bad Name", "kind": "nonsense"},
    "/projects/vision/endpoints/prod/monitors/ghost/delete": {},
    "/projects/vision/alert-settings": {"group_wait": "soon"},
    "/projects/vision/silences": {"matchers": "", "comment": ""},
    "/projects/vision/incidents": {"title": "", "severity": "sev9"},
    "/projects/vision/incidents/1/people": {"commander": "mallory"},
    "/projects/vision/incidents/1/playbook": {"playbook": ""},
    "/projects/vision/incidents/1/notes": {"body": ""},
    "/projects/vision/incidents/1/status": {"status": "sideways"},
    "/projects/vision/incidents/1/steps/99": {},
    "/projects/vision/playbooks": {"kind": "Bad Kind", "markdown": "no steps"},
    "/projects/vision/playbooks/drift/delete": {},
}


def test_a_member_who_may_not_is_refused_before_the_form_is_read(
    api: TestClient, incidents: World
) -> None:
    """A viewer posting a malformed form learns 403, not what is wrong with it (nor, for an
    outsider, that the project exists); the audit log records the attempt as a denial."""
    open_incident(incidents.services)
    sign_in(api, "vic")
    token = csrf_of(api.get("/projects/vision/alerts").text)
    for url, fields in BAD_FORMS.items():
        response = api.post(url, data={**fields, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, f"{url}: {response.status_code}"
    _as(api, "pam")  # a product manager may: told what to fix, not refused
    token = csrf_of(api.get("/projects/vision/alerts").text)
    for url, fields in BAD_FORMS.items():
        response = api.post(url, data={**fields, "csrf_token": token}, follow_redirects=False)
        assert response.status_code in (404, 409, 422), f"{url}: {response.text[-900:]}"
