"""The faces over AlertService: REST (exact status codes, problem+json codes), the SDK
(embedded and remote) and the CLI (`tandem alerts ...`, one line and a non-zero exit on bad
input, `--json`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from alert_world import T0, M, World
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tandem.alerting.models import AlertSettingsUpdate
from tandem.cli import output
from tandem.cli.main import app as cli_app
from tandem.core.config import Settings
from tandem.server.app import create_app

API = "/api/v1/projects/churn"


def fire(world: World, **more: Any) -> None:
    world.alerts.set_settings(world.services.owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    world.feed.add(at=T0, **more)
    world.alerts.tick(world.worker, now=T0)


@pytest.fixture
def rest(world: World) -> Iterator[TestClient]:
    """The served app, with sign-in: each request says who it is with a token."""
    app = create_app(services=world.services, allow_open=False)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        yield client


def test_rest(world: World, rest: TestClient) -> None:
    fire(world)
    listed = rest.get(f"{API}/alerts", params={"state": "firing"}, headers=world.auth("vic"))
    assert listed.status_code == 200, listed.text
    [alert] = listed.json()
    assert (alert["name"], alert["state"], alert["recipients"]) == ("drift", "firing", ["alice"])
    wrong = rest.get(f"{API}/alerts", params={"state": "burning"}, headers=world.auth("vic"))
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid-input"
    assert "pending, firing, resolved" in wrong.json()["detail"]

    ack = f"{API}/alerts/{alert['id']}/ack"
    assert rest.post(ack, json={}, headers=world.auth("vic")).status_code == 403
    done = rest.post(ack, json={"comment": "rolling back"}, headers=world.auth("bob"))
    assert done.status_code == 200 and done.json()["acked_by"] == "bob"
    again = rest.post(ack, json={}, headers=world.auth("alice"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    missing = rest.post(f"{API}/alerts/al-ffffffff/ack", json={}, headers=world.auth("bob"))
    assert missing.status_code == 404

    no_end = rest.post(
        f"{API}/silences",
        json={"matchers": ["endpoint=prod"], "comment": "deploying"},
        headers=world.auth("alice"),
    )
    assert no_end.status_code == 422 and no_end.json()["code"] == "invalid-input"
    assert "needs an expiry" in no_end.json()["detail"]
    made = rest.post(
        f"{API}/silences",
        json={"matchers": ["endpoint=prod"], "duration": "2h", "comment": "deploying"},
        headers=world.auth("alice"),
    )
    assert made.status_code == 201 and made.json()["author"] == "alice"
    silences = rest.get(f"{API}/silences", headers=world.auth("vic")).json()
    assert [s["id"] for s in silences] == [made.json()["id"]]
    expire = f"{API}/silences/{made.json()['id']}/expire"
    assert rest.post(expire, headers=world.auth("vic")).status_code == 403
    assert rest.post(expire, headers=world.auth("carol")).json()["expired_by"] == "carol"

    bad = rest.patch(
        f"{API}/alert-settings", json={"repeat_interval": "often"}, headers=world.auth("alice")
    )
    assert bad.status_code == 422 and "not a duration" in bad.json()["detail"]
    refused = rest.patch(
        f"{API}/alert-settings",
        json={"pagerduty_url": "http://169.254.169.254/latest"},
        headers=world.auth("alice"),
    )
    assert refused.status_code == 422 and refused.json()["code"] == "destination-refused"
    unknown = rest.patch(f"{API}/alert-settings", json={"wait": "1m"}, headers=world.auth("alice"))
    assert unknown.status_code == 422
    shown = rest.get(f"{API}/alert-settings", headers=world.auth("vic")).json()
    assert (shown["group_wait_s"], shown["pagerduty_routing_key"]) == (0, None)

    deliveries = rest.get(f"{API}/alert-deliveries", headers=world.auth("vic"))
    assert [d["channel"] for d in deliveries.json()] == ["app"]
    outsider = rest.get(f"{API}/alerts")
    assert outsider.status_code == 401


@pytest.fixture(params=["embedded", "remote"])
def sdk(
    request: pytest.FixtureRequest, world: World, settings: Settings, serve: Any
) -> Iterator[Any]:
    """The SDK embedded (as the workspace's owner) and remote (as alice, with her token)."""
    from tandem.sdk.client import Client

    if request.param == "embedded":
        from tandem.server import embedded

        yield Client(settings=settings)
        embedded.close_all()
    else:
        with serve(create_app(services=world.services, allow_open=False)) as url:
            remote = Client(url, world.tokens["alice"], settings=settings)
            yield remote
            remote.close()


def test_sdk(world: World, sdk: Any) -> None:
    client = sdk
    fire(world, severity="page")
    [alert] = client.alerts.list(project="churn", state="open")
    assert alert.recipients == ["bob"]
    assert client.alerts.get(alert.id, project="churn").fingerprint == alert.fingerprint
    assert client.alerts.ack(alert.id, project="churn", comment="x").acked_by is not None
    made = client.alerts.silence(
        ["endpoint=prod", "severity=~page|ticket"], project="churn", comment="c", duration="30m"
    )
    assert made.matchers == ['endpoint="prod"', 'severity=~"page|ticket"']
    assert [s.id for s in client.alerts.silences(project="churn")] == [made.id]
    assert client.alerts.expire(made.id, project="churn").active is False
    assert client.alerts.silences(project="churn") == []
    assert len(client.alerts.silences(project="churn", all=True)) == 1
    tuned = client.alerts.configure(project="churn", escalate_after="1h", group_by=["alertname"])
    assert (tuned.escalate_after_s, tuned.group_by) == (3600, ["alertname"])
    assert client.alerts.settings(project="churn") == tuned
    [app_note] = client.alerts.deliveries(project="churn", alert=alert.id)
    assert (app_note.channel.value, app_note.target, app_note.state.value) == (
        "app", "bob", "sent",
    )  # fmt: skip


@pytest.fixture
def tandem(settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tandem(*args)` runs the CLI in process on the test's workspace."""
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("TANDEM_PROJECT", "churn")
    monkeypatch.setenv("COLUMNS", "250")
    output.reset_client()

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli_app, list(args))

    yield run
    output.reset_client()
    from tandem.server import embedded

    embedded.close_all()


def test_cli(world: World, tandem: Any) -> None:
    fire(world)
    listed = tandem("alerts", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    [alert] = orjson.loads(listed.stdout)
    table = tandem("alerts", "list", "--state", "firing")
    assert table.exit_code == 0 and alert["id"] in table.stdout and "alice" in table.stdout

    acked = tandem("alerts", "ack", alert["id"], "-m", "looking")
    assert acked.exit_code == 0 and f"acknowledged {alert['id']} (drift)" in acked.stdout
    twice = tandem("alerts", "ack", alert["id"])
    assert twice.exit_code != 0 and len(twice.stderr.strip().splitlines()) == 1
    assert "acknowledged by" in twice.stderr

    no_end = tandem("alerts", "silence", "endpoint=prod", "-m", "deploying")
    assert no_end.exit_code != 0
    assert len(no_end.stderr.strip().splitlines()) == 1 and "expiry" in no_end.stderr
    made = tandem("alerts", "silence", "endpoint=prod", "--for", "2h", "-m", "deploying", "--json")
    assert made.exit_code == 0, made.stderr
    silence = orjson.loads(made.stdout)
    shown = tandem("alerts", "silences")
    assert silence["id"] in shown.stdout and "deploying" in shown.stdout
    assert tandem("alerts", "unsilence", silence["id"]).exit_code == 0
    assert orjson.loads(tandem("alerts", "silences", "--json").stdout) == []

    bad = tandem("alerts", "settings", "--group-wait", "soon")
    assert bad.exit_code != 0 and "not a duration" in bad.stderr
    good = tandem("alerts", "settings", "--escalate-after", "45m", "--json")
    assert orjson.loads(good.stdout)["escalate_after_s"] == 2700
    assert "escalate after   2700 s" in tandem("alerts", "settings").stdout

    deliveries = orjson.loads(tandem("alerts", "deliveries", "--json").stdout)
    assert [(d["channel"], d["state"]) for d in deliveries] == [("app", "sent")]
    assert "app" in tandem("alerts", "deliveries").stdout
    assert tandem("alerts", "--help").exit_code == 0


def test_time_moves_on_between_ticks_in_the_database(world: World) -> None:
    """The engine's state is read back from the database at every tick: a group keeps its
    group_wait across ticks (here 1 minute) before its first notification."""
    world.alerts.set_settings(world.services.owner, "churn", AlertSettingsUpdate(group_wait="1m"))
    world.feed.add(at=T0)
    assert world.alerts.tick(world.worker, now=T0).queued == 0
    assert world.inbox("alice") == []
    world.alerts.tick(world.worker, now=T0 + M - 1)
    assert world.inbox("alice") == []
    world.alerts.tick(world.worker, now=T0 + M)
    assert len(world.inbox("alice")) == 1
