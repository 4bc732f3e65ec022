"""Runs created with their first batch (ADR 19), both ways (embedded and remote): once a client
has created a run in a project, its next runs there are created lazily, and a short run costs
one request. Nothing about a run may look different for it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tandem import errors
from tandem.sdk import spool
from tandem.sdk.client import Client
from tandem.server.container import Services
from tandem.tracking.models import RunStatus


def count_requests(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of every request the client sends from now on."""
    sent: list[str] = []
    send = client._http.send

    def counting(method: str, path: str, **kwargs: Any) -> Any:
        sent.append(f"{method} {path}")
        return send(method, path, **kwargs)

    monkeypatch.setattr(client._http, "send", counting)
    return sent


def test_a_short_run_is_one_request(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with client.start_run("churn", "first"):
        pass  # the first run in a project is created at once: refusals show up here
    sent = count_requests(client, monkeypatch)
    with client.start_run("churn", "short", seed=3, params={"depth": 6}, tags={"t": "1"}) as run:
        run.log_metrics({"auc": 0.5, "loss": 0.25}, step=1)
        run.log_metric("auc", 0.75, step=2)
        run.set_tags({"stage": "done"})
        assert sent == []
    assert sent == ["POST /api/v1/projects/churn/runs"]
    stored = client.runs.get(run.id)
    assert stored.name == "short" and stored.seed == 3 and stored.status is RunStatus.FINISHED
    assert stored.user == run.info.user and stored.start_time == run.info.start_time
    assert stored.params == {"depth": "6"}
    assert stored.tags == {"t": "1", "stage": "done"}
    assert stored.metrics == {"auc": 0.75, "loss": 0.25}
    assert stored.environment is not None and stored.environment.packages_hash
    paths = [artifact.path for artifact in client.runs.list_artifacts(run.id)]
    assert paths == ["environment/packages.txt"]  # linked, not uploaded again


def test_any_request_of_the_client_sees_a_deferred_run(client: Client, tmp_path: Path) -> None:
    client.start_run("churn").end()
    with client.start_run("churn", "lazy", params={"model": "gbm"}) as run:
        fetched = client.runs.get(run.id)  # sends the creation first
        assert fetched.status is RunStatus.RUNNING and fetched.params == {"model": "gbm"}
        assert fetched.start_time == run.info.start_time
        run.log_metric("auc", 0.5)
        page = client.runs.search("churn", "attributes.name = 'lazy'")
        assert [r.id for r in page.items] == [run.id]
        (tmp_path / "notes.txt").write_text("hello")
        run.log_artifact(tmp_path / "notes.txt")
    with client.start_run("churn", "lazy-artifact") as second:
        second.log_text("direct", "notes.txt")  # the run's own call creates it first
    assert client.runs.read_artifact(second.id, "notes.txt") == b"direct"
    assert client.runs.get(run.id).metrics == {"auc": 0.5}


def test_a_long_deferred_run_is_created_within_the_ship_interval(
    client: Client, services: Services
) -> None:
    client.start_run("churn").end()
    run = client.start_run("churn", "long")
    deadline = time.monotonic() + 10 * spool.SHIP_INTERVAL + 5
    while True:  # read straight from the store: no request of this client may send it
        try:
            stored = services.tracking.get_run(services.owner, run.id)
            break
        except errors.NotFound:
            assert time.monotonic() < deadline, "the deferred run was never created"
            time.sleep(0.02)
    assert stored.status is RunStatus.RUNNING and stored.name == "long"
    run.log_metric("auc", 0.5)
    run.end()
    assert client.runs.get(run.id).status is RunStatus.FINISHED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x" * 1000}, "run name"),
        ({"params": {"": 1}}, "param"),
        ({"tags": {"t": "v" * 100_000}}, "tag"),
        ({"seed": 2**70}, "seed"),
    ],
)
def test_a_deferred_run_refuses_bad_values_at_start(
    client: Client, kwargs: dict[str, Any], message: str
) -> None:
    client.start_run("churn").end()
    with pytest.raises(errors.InvalidInput, match=message):
        client.start_run("churn", **kwargs)
    assert len(client.runs.search("churn").items) == 1


def test_a_deferred_run_whose_package_list_was_collected_links_none(client: Client) -> None:
    client.start_run("churn").end()
    client._packages_oid = "0" * 64  # as if `tandem gc` had freed the blob since
    with client.start_run("churn", "after-gc") as run:
        run.log_metric("auc", 0.5)
    assert client.runs.get(run.id).metrics == {"auc": 0.5}
    assert client.runs.list_artifacts(run.id) == []
    assert client._packages_oid is None
    with client.start_run("churn", "next") as following:  # uploads the list again
        pass
    paths = [artifact.path for artifact in client.runs.list_artifacts(following.id)]
    assert paths == ["environment/packages.txt"]


def test_a_refused_deferred_creation_is_raised_where_the_run_is_used(
    client: Client, services: Services
) -> None:
    client.start_run("churn").end()
    run = client.start_run("churn", "doomed")
    services.projects.delete(services.owner, "churn")  # the project goes before it is sent
    run.log_metric("auc", 0.5)
    with pytest.raises(errors.NotFound, match="churn"):
        run.end()
    services.projects.restore(services.owner, "churn")
    assert client.sync().runs == [run.id]  # kept in the spool, sent once it can be
    stored = client.runs.get(run.id)
    assert stored.metrics == {"auc": 0.5} and stored.status is RunStatus.FINISHED
