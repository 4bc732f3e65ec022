"""The incident and postmortem pages over HTTP: the project page shows open incidents and overdue
postmortem actions first; a product manager opens an incident from a form (errors beside it,
what was typed kept), ticks the playbook, moves the status; the rollback form only for the roles
that may; the postmortem written, submitted and published by the RACI's Accountable only; every
form refused without its CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from incidents_page_world import add_incident_world, open_incident
from markupsafe import escape
from starlette.testclient import TestClient
from test_web_data import text_of
from web_world import XSS, World, csrf_of, sign_in

from tandem.incidents.models import IncidentStatus, StatusChange


@pytest.fixture
def incidents(world: World, tmp_path: Path) -> World:
    add_incident_world(world.services, tmp_path)
    return world


def _as(api: TestClient, name: str) -> TestClient:
    client = TestClient(api.app, base_url="http://127.0.0.1")
    sign_in(client, name)
    return client


def _forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/projects/vision/incidents/[^"]+)"', html)


def test_open_incidents_come_first_on_the_project_page(api: TestClient, incidents: World) -> None:
    incident = open_incident(incidents.services)
    sign_in(api, "vic")  # a viewer sees them too
    page = api.get("/projects/vision")
    assert page.status_code == 200
    html = page.text
    assert html.index('id="attention-h"') < html.index('id="brief-h"')
    attention = text_of(html.split('id="attention-h"')[1].split("</section>")[0])
    assert f"{incident.number}. Churn scores drift on new customers sev2 open prod" in attention
    assert f'href="/projects/vision/incidents/{incident.number}"' in html
    assert 'href="/projects/vision/incidents"' in html and 'href="/projects/vision/alerts"' in html

    listed = api.get("/projects/vision/incidents")
    assert listed.status_code == 200
    assert "Open an incident" not in listed.text  # a viewer opens none
    one = api.get(f"/projects/vision/incidents/{incident.number}")
    assert one.status_code == 200
    text = text_of(one.text)
    assert "Playbook: drift" in text and "0 of 3 steps done" in text
    assert _forms(one.text) == []  # no status, tick, note or rollback forms
    with _as(api, "olga") as olga:  # not a member of vision: not told it exists
        assert olga.get(f"/projects/vision/incidents/{incident.number}").status_code == 404
        assert olga.get("/projects/vision/incidents").status_code == 404


def test_a_product_manager_opens_an_incident_from_the_form(
    api: TestClient, incidents: World
) -> None:
    with _as(api, "pam") as pam:
        page = pam.get("/projects/vision/incidents")
        assert "Open an incident" in page.text
        assert '<option value="prod">prod</option>' in page.text
        token = csrf_of(page.text)
        form = {"csrf_token": token, "title": "", "severity": "sev1", "endpoint": "prod",
                "kind": "drift", "summary": "odd scores since 9:00"}  # fmt: skip
        refused = pam.post("/projects/vision/incidents", data=form)
        assert refused.status_code == 422
        assert 'role="alert"' in refused.text and "Give the incident a title" in refused.text
        assert 'id="i-title" name="title" value="" placeholder' in refused.text
        assert 'aria-invalid="true"' in refused.text.split('id="i-title"')[1].split(">")[0]
        assert "odd scores since 9:00</textarea>" in refused.text  # what was typed stays
        assert '<option value="sev1" selected>' in refused.text
        assert incidents.services.incidents.list_incidents(incidents.services.owner, "vision") == []

        no_token = pam.post("/projects/vision/incidents", data={**form, "csrf_token": ""})
        assert no_token.status_code == 403

        opened = pam.post("/projects/vision/incidents", data={**form, "title": "Scores look off"},
                          follow_redirects=False)  # fmt: skip
        assert opened.status_code == 303
        assert opened.headers["location"] == "/projects/vision/incidents/1?notice=opened"
        page = pam.get(opened.headers["location"])
        text = text_of(page.text)
        assert "Incident 1: Scores look off sev1 open" in text
        assert "Commander pam" in text
        forms = _forms(page.text)
        assert "/projects/vision/incidents/1/steps/1" in forms
        assert "/projects/vision/incidents/1/rollback" not in forms  # a PM changes no traffic

        second = pam.post("/projects/vision/incidents", data={**form, "title": "Again"})
        assert second.status_code == 409  # one open incident per endpoint: said beside the form
        assert 'role="alert"' in second.text and "incident" in text_of(second.text)


def test_playbook_status_and_notes_from_the_incident_page(
    api: TestClient, incidents: World
) -> None:
    incident = open_incident(incidents.services)
    n = incident.number
    with _as(api, "pam") as pam:
        page = pam.get(f"/projects/vision/incidents/{n}")
        token = csrf_of(page.text)
        ticked = pam.post(f"/projects/vision/incidents/{n}/steps/2",
                          data={"csrf_token": token, "done": "true"},
                          follow_redirects=False)  # fmt: skip
        assert ticked.status_code == 303 and "notice=ticked" in ticked.headers["location"]
        page = pam.get(ticked.headers["location"])
        step = page.text.split('id="step-2"')[1].split("</li>")[0]
        assert 'aria-checked="true"' in step and "— pam," in step
        assert "1 of 3 steps done" in text_of(page.text)

        ack = pam.post(f"/projects/vision/incidents/{n}/status",
                       data={"csrf_token": token, "status": "acknowledged", "message": "on it"},
                       follow_redirects=False)  # fmt: skip
        assert ack.status_code == 303
        page = pam.get(ack.headers["location"])
        assert "incident-acknowledged" in page.text
        assert 'value="acknowledged"' not in page.text  # forward only
        again = pam.post(f"/projects/vision/incidents/{n}/status",
                         data={"csrf_token": token, "status": "acknowledged"})  # fmt: skip
        assert again.status_code == 409 and "can only move forward" in again.text

        note = pam.post(f"/projects/vision/incidents/{n}/notes",
                        data={"csrf_token": token, "body": "tenure <b>doubled</b>"},
                        follow_redirects=False)  # fmt: skip
        assert note.status_code == 303
        timeline = pam.get(note.headers["location"]).text.split('id="timeline-h"')[1]
        assert "tenure &lt;b&gt;doubled&lt;/b&gt;" in timeline  # text, never markup
        assert timeline.index("note") < timeline.index("acknowledged")  # newest first
        empty = pam.post(f"/projects/vision/incidents/{n}/notes",
                         data={"csrf_token": token, "body": "  "})  # fmt: skip
        assert empty.status_code == 422 and 'id="note-error"' in empty.text


def test_one_click_rollback_only_for_the_roles_that_may(api: TestClient, incidents: World) -> None:
    n = open_incident(incidents.services).number
    with _as(api, "dana") as dana:  # a data scientist: no production traffic changes
        page = dana.get(f"/projects/vision/incidents/{n}")
        assert f"/projects/vision/incidents/{n}/rollback" not in _forms(page.text)
        refused = dana.post(f"/projects/vision/incidents/{n}/rollback",
                            data={"csrf_token": csrf_of(page.text)})  # fmt: skip
        assert refused.status_code == 403
    sign_in(api, "ada")
    page = api.get(f"/projects/vision/incidents/{n}")
    assert f"/projects/vision/incidents/{n}/rollback" in _forms(page.text)
    assert "Roll back prod now" in page.text and "churn-lr@1" in text_of(page.text)
    done = api.post(f"/projects/vision/incidents/{n}/rollback",
                    data={"csrf_token": csrf_of(page.text), "message": "drift"},
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and "notice=rolled-back" in done.headers["location"]
    after = text_of(api.get(done.headers["location"]).text)
    assert "serving churn-lr@1 100%" in after
    assert "rolled prod back: now churn-lr@1 100%" in after
    services = incidents.services
    history = services.deployments.history(services.owner, "vision", "prod")
    assert history.items[0].kind.value == "rolled-back"


def _resolve(world: World, n: int) -> None:
    world.services.incidents.set_status(world.services.owner, "vision", n,
                                        StatusChange(status=IncidentStatus.RESOLVED))  # fmt: skip


def test_postmortem_written_submitted_and_published(api: TestClient, incidents: World) -> None:
    n = open_incident(incidents.services).number
    base = f"/projects/vision/incidents/{n}/postmortem"
    with _as(api, "pam") as pam:
        early = pam.get(base)
        assert early.status_code == 200 and "can start once it is resolved" in early.text
        _resolve(incidents, n)
        page = pam.get(base)
        assert "Start the postmortem" in page.text and "blameless" in page.text
        token = csrf_of(page.text)
        started = pam.post(base, data={"csrf_token": token, "start": "yes"},
                           follow_redirects=False)  # fmt: skip
        assert started.status_code == 303
        page = pam.get(base)
        assert 'id="pm-summary"' in page.text and "Why 5" in page.text
        overdue = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat()
        form = {
            "csrf_token": token, "summary": "Scores drifted after a release.",
            "why-1": "the new version read tenure in days", "why-2": "no contract on units",
            "went_well": "caught in an hour\nrollback was one click",
            "action-0-title": "Add a unit check to the contract", "action-0-kind": "prevent",
            "action-0-owner": "pam", "action-0-due": "31/12/2026",
            "confirm-no-person-named-as": "yes", "then": "save",
        }  # fmt: skip
        bad = pam.post(base, data=form)
        assert bad.status_code == 422
        assert "Action item 1: the due date '31/12/2026' is not a date" in text_of(bad.text)
        assert "the new version read tenure in days" in bad.text  # kept
        assert 'aria-invalid="true"' in bad.text.split('id="a-0-due"')[1].split(">")[0]
        saved = pam.post(base, data={**form, "action-0-due": overdue, "then": "submit"},
                         follow_redirects=False)  # fmt: skip
        assert saved.status_code == 303 and saved.headers["location"].endswith("notice=submitted")
        page = pam.get(saved.headers["location"])
        assert "postmortem-in-review" in page.text
        assert f"{base}/publish" not in page.text  # pam is Responsible, not Accountable
        assert "ada publishes it" in text_of(page.text)
        refused = pam.post(f"{base}/publish", data={"csrf_token": token})
        assert refused.status_code == 403

        project = pam.get("/projects/vision").text
        attention = text_of(project.split('id="attention-h"')[1].split("</section>")[0])
        assert "Add a unit check to the contract pam" in attention and "overdue" in attention
        assert f'href="{base}"' in project

    sign_in(api, "ada")
    page = api.get(base)
    assert f'action="{base}/publish"' in page.text
    token = csrf_of(page.text)
    number = re.search(r'name="action-0-number" value="(\d+)"', page.text)
    assert number, "the saved action item keeps its number in the form"
    confirmed = api.post(base, data={
        "csrf_token": token, "summary": "Scores drifted after a release.",
        "why-1": "the new version read tenure in days",
        **{f"confirm-{'-'.join(item.split()[:4])}": "yes"
           for item in ("no person named as a cause", "the timeline is complete and in order",
                        "every action item has an owner and a due date")},
        "action-0-title": "Add a unit check to the contract", "action-0-kind": "prevent",
        "action-0-owner": "pam", "action-0-due": overdue,
        "action-0-number": number[1],
    }, follow_redirects=False)  # fmt: skip
    assert confirmed.status_code == 303
    published = api.post(f"{base}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert published.status_code == 303, published.text
    page = api.get(published.headers["location"])
    assert "postmortem-published" in page.text and 'id="pm-summary"' not in page.text
    assert "Add a unit check to the contract" in text_of(page.text)


def test_what_people_type_is_text_on_every_page(api: TestClient, world: World) -> None:
    """Titles, summaries, notes and alert annotations are escaped wherever they show."""
    from incidents_page_world import add_members
    from monitoring_page_world import fire_alerts

    from tandem.incidents.models import IncidentCreate, NoteCreate

    services = world.services
    add_members(services)
    fire_alerts(services)
    incident = services.incidents.open(
        services.owner, "vision", IncidentCreate(title=XSS, summary=XSS)
    )
    services.incidents.add_note(services.owner, "vision", incident.number, NoteCreate(body=XSS))
    sign_in(api, "pam")
    one = f"/projects/vision/incidents/{incident.number}"
    for path in ("/projects/vision", "/projects/vision/incidents", one, "/projects/vision/alerts"):
        page = api.get(path)
        assert page.status_code == 200, path
        assert "<script>window.__xss" not in page.text and "<img src=x" not in page.text, path
    assert str(escape(XSS)) in api.get(f"/projects/vision/incidents/{incident.number}").text
