"""Monitors through every face: the REST API (exact status codes and problem codes), the SDK
(`client.monitors`) and the CLI (`tandem monitors list|show|check|create|delete`, exit codes,
`--json`)."""

from __future__ import annotations

import orjson
import pytest
from monitor_world import H0, HOUR, PROJECT, ship_window
from typer.testing import CliRunner

from tandem import errors
from tandem.cli import output
from tandem.cli.main import app as cli_app
from tandem.core.clock import format_ms
from tandem.server import embedded

URL = f"/api/v1/projects/{PROJECT}/monitors"


@pytest.fixture
def cli(world, settings, monkeypatch):
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("TANDEM_PROJECT", PROJECT)
    monkeypatch.setenv("COLUMNS", "250")
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)

    def run(*args: str):
        return CliRunner().invoke(cli_app, list(args))

    yield run
    output.reset_client()
    embedded.close_all()


def test_rest_create_read_and_refuse(world) -> None:
    api = world.api
    created = api.post(URL, json={"name": "drift", "endpoint": "prod", "kind": "feature-drift",
                                  "for": "2h", "severity": "page", "owner": "mle"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["for"] == "2h" and created.json()["source"] == "user"
    again = api.post(URL, json={"name": "drift", "endpoint": "prod", "kind": "contract"})
    assert again.status_code == 409 and again.json()["code"] == "already-exists"
    missing = api.post(URL, json={"name": "x", "endpoint": "nope", "kind": "contract"})
    assert missing.status_code == 404
    column = api.post(URL, json={"name": "x", "endpoint": "prod", "kind": "feature-drift",
                                 "params": {"columns": ["income"]}})  # fmt: skip
    assert column.status_code == 422 and "no column 'income'" in column.json()["detail"]
    unknown = api.post(URL, json={"name": "x", "endpoint": "prod", "kind": "weather"})
    assert unknown.status_code == 422
    listed = api.get(URL).json()
    assert [s["monitor"]["name"] for s in listed] == ["drift"] and listed[0]["latest"] is None
    assert api.get(f"{URL}/ghost").status_code == 404
    assert api.patch(f"{URL}/drift", json={"condition": "drifted_count >= 2"}).status_code == 200
    bad = api.patch(f"{URL}/drift", json={"condition": "drifted_count >= lots"})
    assert bad.status_code == 422
    assert api.get(f"{URL}/drift").json()["condition"] == "drifted_count >= 2"
    ship_window(world.sdk, world.model, H0, 200, seed=9)
    checked = api.post(f"{URL}/check", params={"now": H0 + HOUR + 60_000})
    assert checked.status_code == 200 and checked.json()["evaluated"] == 1  # from the traffic on
    results = api.get(f"{URL}/drift/results", params={"since": H0}).json()
    assert len(results) == 1 and results[0]["breached"] is False
    assert api.delete(f"{URL}/drift").status_code == 204
    assert api.get(URL).json() == []


def test_sdk(world) -> None:
    monitors = world.sdk.monitors
    monitors.create("contract", endpoint="prod", kind="contract", window="30m", project=PROJECT)
    with pytest.raises(errors.InvalidInput):
        monitors.create("bad", endpoint="prod", kind="contract", condition="x ~ 1",
                        project=PROJECT)  # fmt: skip
    ship_window(world.sdk, world.model, H0, 100, seed=10, override={"age": [3.0]})
    summary = monitors.check(now=H0 + HOUR + 60_000, project=PROJECT)
    breached = [r for r in summary.results if r.breached]
    assert [(r.window_start, r.value) for r in breached] == [(H0, 1.0)]
    assert monitors.update("contract", project=PROJECT, severity="page").severity == "page"
    assert monitors.list(project=PROJECT)[0].latest.window_start == H0 + HOUR // 2
    assert monitors.results("contract", since=H0, project=PROJECT)[-1].breached is True
    monitors.delete("contract", project=PROJECT)
    with pytest.raises(errors.NotFound):
        monitors.get("contract", PROJECT)


def test_cli(world, cli) -> None:
    assert cli("monitors", "--help").exit_code == 0
    made = cli("monitors", "create", "drift", "--endpoint", "prod", "--kind", "feature-drift",
               "--param", 'columns=["tenure"]', "--param", "method=psi", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert orjson.loads(made.stdout)["params"] == {"columns": ["tenure"], "method": "psi"}
    bad = cli("monitors", "create", "x", "--endpoint", "prod", "--kind", "feature-drift",
              "--param", 'columns=["income"]')  # fmt: skip
    assert bad.exit_code == 2 and "no column 'income'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    wrong = cli("monitors", "create", "x", "--endpoint", "prod", "--kind", "weather")
    assert wrong.exit_code == 2
    ship_window(world.sdk, world.model, H0, 300, seed=13, shift={"tenure": 30})
    at = format_ms(H0 + HOUR + 60_000)
    breached = cli("monitors", "check", "--at", at.replace(" ", "T"))
    assert breached.exit_code == 1, breached.output
    assert "BREACHED" in breached.stdout and "1 window evaluated, 1 breached" in breached.stdout
    calm = cli("monitors", "check", "--at", at.replace(" ", "T"), "--json")
    assert calm.exit_code == 0 and orjson.loads(calm.stdout)["evaluated"] == 0
    listed = cli("monitors", "list")
    assert listed.exit_code == 0 and "drift" in listed.stdout and "BREACHED" in listed.stdout
    shown = cli("monitors", "show", "drift", "--json")
    assert shown.exit_code == 0 and orjson.loads(shown.stdout)["results"][0]["breached"] is True
    assert cli("monitors", "show", "ghost").exit_code == 3
    assert cli("monitors", "delete", "drift").exit_code == 0
    assert "no monitors" in cli("monitors", "list").stdout
