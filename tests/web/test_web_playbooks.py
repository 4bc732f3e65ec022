"""Over HTTP, the project's playbooks page: a viewer reads the playbooks; a product manager writes
one in Markdown, previews its steps (saving nothing), is told what is wrong beside the form with
what was typed kept, replaces one from its Markdown, and deletes one after ticking the
confirmation."""

from __future__ import annotations

from pathlib import Path

import pytest
from incidents_page_world import add_incident_world
from starlette.testclient import TestClient
from test_web_data import text_of
from web_world import World, csrf_of, sign_in

PAGE = "/projects/vision/playbooks"
LATENCY = "# Slow answers\n\n- [ ] (commander) Look at p99 per version\n- [ ] Scale out\n"


@pytest.fixture
def playbooks(world: World, tmp_path: Path) -> World:
    add_incident_world(world.services, tmp_path)
    return world


def _error(html: str) -> str:
    return text_of(html.split('role="alert"')[1].split("</p>")[0])


def test_a_viewer_reads_the_playbooks_without_forms(api: TestClient, playbooks: World) -> None:
    sign_in(api, "vic")
    assert f'href="{PAGE}"' in api.get("/projects/vision/incidents").text
    page = api.get(PAGE)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Drift on a production endpoint — 3 steps, from markdown" in words
    assert "Compare with the last deployment" in words
    assert f'action="{PAGE}"' not in page.text and "/delete" not in page.text
    assert api.get("/projects/ghost/playbooks").status_code == 404


def test_a_product_manager_writes_previews_replaces_and_deletes(
    api: TestClient, playbooks: World
) -> None:
    services = playbooks.services
    sign_in(api, "pam")
    page = api.get(PAGE)
    token = csrf_of(page.text)
    assert f'action="{PAGE}"' in page.text

    preview = api.post(PAGE, data={"csrf_token": token, "kind": "latency", "markdown": LATENCY,
                                   "action": "preview"})  # fmt: skip
    assert preview.status_code == 200
    shown = text_of(preview.text.split('id="preview-h"')[1])
    assert "Slow answers, 2 steps" in shown and "1. Look at p99 per version commander" in shown
    assert "latency" not in [p.kind for p in services.incidents.list_playbooks(
        services.owner, "vision")]  # fmt: skip
    assert "Scale out\n</textarea>" in preview.text  # the Markdown stays in the form

    no_steps = api.post(PAGE, data={"csrf_token": token, "kind": "latency",
                                    "markdown": "# Slow\n\n- a list, not checkboxes"})  # fmt: skip
    assert no_steps.status_code == 422 and "has no steps" in _error(no_steps.text)
    field = no_steps.text.split('id="pb-markdown"')[1].split(">")[0]
    assert 'aria-invalid="true"' in field
    assert "- a list, not checkboxes</textarea>" in no_steps.text
    bad_kind = api.post(PAGE, data={"csrf_token": token, "kind": "Slow <b>", "markdown": LATENCY})
    assert bad_kind.status_code == 422 and "lowercase letters" in _error(bad_kind.text)
    assert 'aria-invalid="true"' in bad_kind.text.split('id="pb-kind"')[1].split(">")[0]
    assert "Slow &lt;b&gt;" in bad_kind.text
    no_kind = api.post(PAGE, data={"csrf_token": token, "kind": " ", "markdown": LATENCY})
    assert no_kind.status_code == 422 and "lowercase letters" in _error(no_kind.text)

    saved = api.post(PAGE, data={"csrf_token": token, "kind": "latency", "markdown": LATENCY,
                                 "action": "save"}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    page = api.get(saved.headers["location"])
    assert "The playbook is saved" in page.text
    latency = services.incidents.get_playbook(services.owner, "vision", "latency")
    assert (latency.updated_by, latency.source) == ("pam", "markdown")
    assert [(s.role, s.text) for s in latency.steps] == [
        ("commander", "Look at p99 per version"), (None, "Scale out"),
    ]  # fmt: skip

    edit = api.get(f"{PAGE}?kind=drift")  # the Markdown of the one to replace, in the form
    assert "Replace the playbook drift" in edit.text
    markdown = edit.text.split('id="pb-markdown"')[1].split(">", 1)[1].split("</textarea>")[0]
    assert markdown.startswith("# Drift on a production endpoint")
    api.post(PAGE, data={"csrf_token": token, "kind": "drift",
                         "markdown": "# Drift\n\n- [ ] Roll back\n"})  # fmt: skip
    drift = services.incidents.get_playbook(services.owner, "vision", "drift")
    assert [s.text for s in drift.steps] == ["Roll back"]

    unconfirmed = api.post(f"{PAGE}/latency/delete", data={"csrf_token": token})
    assert unconfirmed.status_code == 422 and "Tick the box" in _error(unconfirmed.text)
    ghost = api.post(f"{PAGE}/ghost/delete", data={"csrf_token": token, "confirm": "yes"})
    assert ghost.status_code == 404
    gone = api.post(f"{PAGE}/latency/delete", data={"csrf_token": token, "confirm": "yes"},
                    follow_redirects=False)  # fmt: skip
    assert gone.status_code == 303 and "notice=deleted" in gone.headers["location"]
    assert [p.kind for p in services.incidents.list_playbooks(services.owner, "vision")] == [
        "drift"
    ]


def test_a_viewer_is_refused_before_the_form_is_read(api: TestClient, playbooks: World) -> None:
    sign_in(api, "vic")
    token = csrf_of(api.get(PAGE).text)
    for url, fields in ((PAGE, {"kind": "latency", "markdown": LATENCY, "action": "preview"}),
                        (f"{PAGE}/drift/delete", {"confirm": "yes"})):  # fmt: skip
        response = api.post(url, data={**fields, "csrf_token": token})
        assert response.status_code == 403
    assert len(playbooks.services.incidents.list_playbooks(playbooks.services.owner, "vision")) == 1
