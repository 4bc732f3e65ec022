"""A project someone may not see stays unseen from every face: creating its name (`projects
create`, `start_run`, `data add`, REST) answers only that the name is not available, never
"already exists", while reading it answers "does not exist" as for a name nobody holds. A
member gets the full answer. (Issue 26.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tandem import errors
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services

UNAVAILABLE = "the project name 'secret' is not available: choose another"


def test_a_hidden_project_is_not_confirmed_by_any_face(
    tandem: Any, services: Services, monkeypatch: pytest.MonkeyPatch, serve: Any, tmp_path: Path
) -> None:
    for user in ("ana", "carol"):
        assert tandem("users", "create", user, "--role", "data-scientist").code == 0
    ana = tandem("tokens", "create", "t", "--user", "ana").stdout.strip()
    carol = tandem("tokens", "create", "t", "--user", "carol").stdout.strip()
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n")
    with serve(create_app(services=services, allow_open=False)) as url:
        monkeypatch.setenv("TANDEM_URL", url)
        with Client(url, ana) as owner:
            owner.projects.create("secret")
            # a member is told what is there
            with pytest.raises(errors.AlreadyExists, match="project 'secret' already exists"):
                owner.projects.create("secret")
            assert owner.projects.ensure("secret") is False

        # CLI
        monkeypatch.setenv("TANDEM_TOKEN", carol)
        created = tandem("projects", "create", "secret")
        assert created.code == 4 and created.stderr_lines == [f"error: {UNAVAILABLE}"]
        listed = tandem("runs", "list", "-p", "secret")
        assert listed.code == 3
        assert listed.stderr_lines == ["error: project 'secret' does not exist"]
        added = tandem("data", "add", "d", str(data), "-p", "secret")
        assert added.code == 4 and added.stderr_lines == [f"error: {UNAVAILABLE}"]
        ran = tandem("runs", "list", "-p", "nosuch")  # a name nobody holds reads the same
        assert ran.stderr_lines == ["error: project 'nosuch' does not exist"]

        # SDK
        with Client(url, carol) as stranger:
            for attempt in (
                lambda: stranger.projects.create("secret"),
                lambda: stranger.projects.ensure("secret"),
                lambda: stranger.start_run(project="secret"),
                lambda: stranger.data.add("d", data, project="secret", create_project=True),
            ):
                with pytest.raises(errors.AlreadyExists) as caught:
                    attempt()
                assert caught.value.message == UNAVAILABLE
            with pytest.raises(errors.NotFound, match="project 'secret' does not exist"):
                stranger.projects.get("secret")

        # REST
        headers = {"authorization": f"Bearer {carol}"}
        with httpx.Client(base_url=url, headers=headers) as http:
            for path, body in (
                ("/api/v1/projects", {"name": "secret"}),
                ("/api/v1/projects/secret/runs", {"create_project": True}),
            ):
                answer = http.post(path, json=body)
                assert answer.status_code == 409, answer.text
                problem = answer.json()
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert problem["code"] == "already-exists" and problem["detail"] == UNAVAILABLE
                assert "already exists" not in answer.text and "deleted" not in answer.text
            assert http.get("/api/v1/projects/secret").status_code == 404

        # A free name: `data add` creates it over HTTP too (files are uploaded to it first).
        fresh = tandem("data", "add", "d", str(data), "-p", "carols", "--json")
        assert fresh.code == 0, fresh.stderr
        assert fresh.stderr_lines == ["created project 'carols'"]
        assert fresh.json()["project"] == "carols"
        refused = tandem("data", "add", "d", str(data), "-p", "other", "--no-create-project")
        assert refused.code == 3 and refused.stderr_lines == [
            "error: project 'other' does not exist"
        ]


def test_a_member_of_nothing_still_creates_a_free_name(tandem: Any, sdk: Client) -> None:
    """The refusal is for taken names only: a new name is created, as before."""
    outcome = tandem("projects", "create", "fresh")
    assert outcome.code == 0, outcome.stderr
    assert sdk.projects.get("fresh").name == "fresh"
