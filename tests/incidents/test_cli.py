"""`tandem incidents ...` and `tandem postmortems ...` through the real CLI on a real workspace
(the embedded owner's), with a real model serving: open, ack, tick, rollback, status, the
playbook from Markdown, the postmortem written, submitted and published; bad input is one line
and a non-zero exit, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from incident_world import MODEL, register_models
from typer.testing import CliRunner

from tandem.cli import output
from tandem.cli.main import app
from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded

PLAYBOOK = "# Latency\n\n- [ ] (commander) Check p99 per version\n- [ ] Roll back\n"


class Ran:
    def __init__(self, result: Any) -> None:
        self.code, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return orjson.loads(self.stdout)


@pytest.fixture
def tandem(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("COLUMNS", "250")
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)

    def run(*args: str) -> Ran:
        return Ran(CliRunner().invoke(app, list(args)))

    yield run
    output.reset_client()
    embedded.close_all()


def test_incident_and_postmortem_from_the_command_line(
    tandem: Any, settings: Settings, tmp_path: Path
) -> None:
    sdk = Client(settings=settings)
    sdk.projects.create("churn")
    register_models(sdk)
    sdk.deployments.create("prod", project="churn")
    sdk.deployments.deploy("prod", f"{MODEL}@1", "churn")
    sdk.deployments.deploy("prod", f"{MODEL}@2", "churn")
    playbook = tmp_path / "latency.md"
    playbook.write_text(PLAYBOOK)

    set_ = tandem("incidents", "playbook", "set", "latency", str(playbook), "-p", "churn")
    assert (set_.code, set_.stdout.strip()) == (0, "playbook latency: 2 steps")
    opened = tandem("incidents", "open", "p99 doubled", "-e", "prod", "-k", "latency",
                    "-s", "sev1", "-p", "churn")  # fmt: skip
    assert (opened.code, opened.stdout.strip()) == (0, "opened incident churn/incidents/1")

    # bad input: one line, a non-zero exit, nothing changed
    bad = tandem("incidents", "open", "x", "-s", "sev9", "-p", "churn")
    assert bad.code != 0 and bad.stderr.strip() == (
        "error: invalid severity 'sev9': use sev1, sev2, sev3 or sev4"
    )
    again = tandem("incidents", "open", "again", "-e", "prod", "-p", "churn")
    assert again.code == 4, again.stderr
    assert "already has open incident 1" in again.stderr and len(again.stderr.splitlines()) == 1
    backwards = tandem("incidents", "tick", "1", "3", "-p", "churn")
    assert backwards.code == 2 and "steps 1 to 2, not 3" in backwards.stderr
    early = tandem("postmortems", "edit", "1", "--summary", "s", "-p", "churn")
    assert early.code == 4 and "a postmortem follows its resolution" in early.stderr
    assert len(tandem("incidents", "list", "-p", "churn", "--json").json()) == 1

    assert tandem("incidents", "ack", "1", "-p", "churn").code == 0
    ticked = tandem("incidents", "tick", "1", "1", "-p", "churn")
    assert ticked.stdout.strip() == "ticked step 1 of incident 1 (1 of 2 done)"
    rolled = tandem("incidents", "rollback", "1", "-m", "v2 is slow", "-p", "churn")
    assert rolled.stdout.strip() == "rolled back endpoint prod for incident 1"
    assert tandem("incidents", "tick", "1", "2", "-p", "churn").code == 0
    resolved = tandem("incidents", "status", "1", "resolved", "-p", "churn")
    assert resolved.stdout.strip() == "incident 1 is resolved"

    shown = tandem("incidents", "show", "1", "-p", "churn", "--json").json()
    assert [s["done"] for s in shown["steps"]] == [True, True]
    assert any(e["source"] == "deployment" and e["kind"] == "rolled-back"
               for e in shown["timeline"])  # fmt: skip
    human = tandem("incidents", "show", "1", "-p", "churn")
    assert "1. [x] (commander) Check p99 per version" in human.stdout

    bad_action = tandem("postmortems", "edit", "1", "--action", "fix:me", "-p", "churn")
    assert bad_action.code == 2 and "KIND:OWNER:DUE:TITLE" in bad_action.stderr
    written = tandem(
        "postmortems", "edit", "1", "--summary", "v2 was slow for 10 minutes",
        "--why", "p99 doubled", "--why", "v2 is a bigger model",
        "--why", "no latency guard on the canary", "--trigger", "deploying churn-lr@2",
        "--went-well", "rollback in a minute", "-p", "churn", "--json",
    ).json()  # fmt: skip
    assert (
        written["status"] == "draft" and written["five_whys"][2] == "no latency guard on the canary"
    )
    assert tandem("postmortems", "submit", "1", "-p", "churn").code == 0
    refused = tandem("postmortems", "publish", "1", "-p", "churn")
    assert refused.code == 4 and "review checklist is not confirmed" in refused.stderr
    confirm = [arg for item in written["checklist"] for arg in ("--confirm", item)]
    assert tandem("postmortems", "edit", "1", *confirm, "-p", "churn").code == 0
    published = tandem("postmortems", "publish", "1", "-p", "churn")
    assert published.stdout.strip() == "published the postmortem of incident 1"
    final = tandem("postmortems", "show", "1", "-p", "churn", "--json").json()
    assert final["status"] == "published" and final["published_by"]
    listed = tandem("incidents", "list", "-p", "churn")
    assert "1 incidents, 0 open" in listed.stdout
    # the endpoint, its deployments and the versions are in lineage, down to the postmortem
    traced = tandem("lineage", "endpoints/prod", "--downstream", "-p", "churn")
    assert traced.code == 0, traced.stderr
    assert "endpoint prod [non-production]  churn/endpoints/prod" in traced.stdout
    assert "incident #1 p99 doubled [resolved]  churn/incidents/1" in traced.stdout
    assert "churn/postmortems/1" in traced.stdout
    graph = tandem("lineage", "incidents/1", "--upstream", "-p", "churn", "--json").json()
    kinds = {n["kind"] for n in graph["nodes"]}
    assert {"endpoint", "deployment", "model-version", "incident"} <= kinds
    sdk.close()
