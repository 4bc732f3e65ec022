"""Smaller holes of issue 20, each closed at its shared check and each tested from the outside,
over HTTP: the exact status, and that the refused request changed nothing.

- a run of a soft-deleted project takes no writes (nor does the project's other children);
- param, metric and tag keys that read as paths are refused, as MLflow refuses them;
- a metric value must be a JSON number: "41" is not coerced;
- model names are unique in a project but for case;
- a path segment over 255 UTF-8 bytes (no filesystem could hold it) is refused;
- the per-user storage quota answers 507 and keeps nothing of the refused upload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.errors import InvalidInput
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.store.base import metadata

API = "/api/v1"
MODEL_META = {"flavor": "sklearn", "format": "skops", "trusted": False, "files": ["model.skops"]}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["detail"] and "Traceback" not in body["detail"]
    return body


def state(services: Services) -> dict[str, Any]:
    """Every table's row count, and the stored blobs: what a refused request must leave as it
    was. Not the audit log (refusals are audited) nor metric_keys (metric names are interned
    before the transaction, by design: an id for a name is not data)."""
    counts = {}
    with services.db.read() as conn:
        for table in metadata.sorted_tables:
            if not table.name.startswith("audit") and table.name != "metric_keys":
                counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
    return {"rows": counts, "blobs": sorted(b.oid for b in services.blobs.list())}


def assert_unchanged(services: Services, before: dict[str, Any]) -> None:
    after = state(services)
    changed = {k: (v, after["rows"][k]) for k, v in before["rows"].items() if after["rows"][k] != v}
    assert changed == {}, "rows changed"
    assert after["blobs"] == before["blobs"]


def new_run(api: TestClient | httpx.Client, project: str, **body: Any) -> str:
    response = api.post(f"{API}/projects/{project}/runs", json={"create_project": True, **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def log_model(api: TestClient, run_id: str, folder: str = "models/m") -> None:
    """A run's logged model: the files `register` copies (the server never loads them)."""
    for name, content in (
        ("model.skops", b"model bytes"),
        ("tandem-model.json", json.dumps(MODEL_META).encode()),
    ):
        put = api.put(f"{API}/runs/{run_id}/artifacts/{folder}/{name}", content=content)
        assert put.status_code == 201, put.text


def upload_dataset_file(api: TestClient, project: str, content: bytes) -> dict[str, Any]:
    response = api.put(f"{API}/projects/{project}/datasets/blobs", content=content)
    assert response.status_code == 201, response.text
    return {**response.json(), "path": "table.csv"}


# -- writes to a soft-deleted project ------------------------------------------------------------


def test_a_deleted_project_and_its_runs_take_no_writes(api: TestClient, services: Services) -> None:
    run_id = new_run(api, "churn", params={"lr": "0.1"}, tags={"team": "a"})
    log_model(api, run_id)
    assert api.post(f"{API}/projects", json={"name": "shared"}).status_code == 201
    file = upload_dataset_file(api, "shared", b"id,x\n1,2\n")
    added = api.post(f"{API}/projects/shared/datasets/table/versions",
                     json={"files": [file], "create_dataset": True})  # fmt: skip
    assert added.status_code == 201, added.text
    assert api.delete(f"{API}/projects/churn").status_code == 200
    before = state(services)
    run = api.get(f"{API}/runs/{run_id}").json()

    refused = {
        "metric points (group commit)": api.post(
            f"{API}/runs/{run_id}/batch", json={"metrics": {"key": ["auc"], "value": [0.9]}}
        ),
        "params and tags": api.post(
            f"{API}/runs/{run_id}/batch", json={"params": {"depth": 3}, "tags": {"x": "y"}}
        ),
        "an end in a batch": api.post(f"{API}/runs/{run_id}/batch", json={"end_status": "failed"}),
        "end": api.patch(f"{API}/runs/{run_id}", json={"status": "finished"}),
        "rename": api.patch(f"{API}/runs/{run_id}", json={"name": "other"}),
        "untag": api.delete(f"{API}/runs/{run_id}/tags/team"),
        "artifact": api.put(f"{API}/runs/{run_id}/artifacts/late.txt", content=b"late"),
        "dataset link": api.post(
            f"{API}/runs/{run_id}/datasets", json={"dataset": "shared/table@v1", "role": "train"}
        ),
        "delete the run": api.delete(f"{API}/runs/{run_id}"),
    }
    for what, response in refused.items():
        body = assert_problem(response, 409, "conflict")
        assert "project 'churn', which is deleted" in body["detail"], what
    not_found = {
        "create a run": api.post(f"{API}/projects/churn/runs", json={}),
        "create it again (a retry)": api.post(f"{API}/projects/churn/runs", json={"id": run_id}),
        "register a model": api.post(
            f"{API}/projects/churn/models/m/versions",
            json={"run_id": run_id, "artifact_path": "models/m"},
        ),
        "dataset file": api.put(f"{API}/projects/churn/datasets/blobs", content=b"id\n1\n"),
        "dataset version": api.post(
            f"{API}/projects/churn/datasets/t/versions",
            json={"files": [file], "create_dataset": True},
        ),
    }
    for what, response in not_found.items():
        assert_problem(response, 404, "not-found"), what
    assert_unchanged(services, before)
    assert api.get(f"{API}/runs/{run_id}").json() == run

    # Restored, the project and its run take writes again.
    assert api.post(f"{API}/projects/churn/restore").status_code == 200
    applied = api.post(
        f"{API}/runs/{run_id}/batch", json={"metrics": {"key": ["auc"], "value": [1]}}
    )
    assert applied.status_code == 200, applied.text
    assert api.get(f"{API}/runs/{run_id}").json()["metrics"] == {"auc": 1.0}


def test_a_deleted_run_of_a_live_project_still_says_the_run_is_deleted(api: TestClient) -> None:
    run_id = new_run(api, "churn")
    assert api.delete(f"{API}/runs/{run_id}").status_code == 200
    body = assert_problem(
        api.post(f"{API}/runs/{run_id}/batch", json={"params": {"a": 1}}), 409, "conflict"
    )
    assert f"run {run_id} is deleted" in body["detail"]


# -- keys that read as paths ---------------------------------------------------------------------

PATH_LIKE = ["a/../b", "./a", "a//b", "/a", "a/", "..", ".", "a/./b", "a/.."]


@pytest.mark.parametrize("key", PATH_LIKE)
def test_keys_that_read_as_paths_are_refused(api: TestClient, services: Services, key: str) -> None:
    run_id = new_run(api, "churn")
    before = state(services)
    bodies = {
        "metric": {"metrics": {"key": ["ok", key], "value": [1.0, 2.0]}},
        "param": {"params": {"ok": 1, key: 2}},
        "tag": {"tags": {"ok": "1", key: "2"}},
    }
    for kind, batch in bodies.items():
        response = api.post(f"{API}/runs/{run_id}/batch", json=batch)
        body = assert_problem(response, 422, "invalid-input")
        assert f"{kind} key {key!r} reads as a path" in body["detail"]
        created = api.post(f"{API}/projects/churn/runs", json={"batch": batch})
        assert_problem(created, 422, "invalid-input")
    for kind in ("params", "tags"):
        assert_problem(api.post(f"{API}/projects/churn/runs", json={kind: {key: "1"}}), 422,
                       "invalid-input")  # fmt: skip
    assert_unchanged(services, before)


def test_slash_still_separates_segments_of_a_key(api: TestClient) -> None:
    run_id = new_run(api, "churn")
    keys = ["train/loss", "eval/v1.0/auc", "..a", "a..", ".hidden", "a.b/c.d"]
    batch = {
        "metrics": {"key": keys, "value": [1.0] * len(keys)},
        "params": dict.fromkeys(keys, 1),
        "tags": dict.fromkeys(keys, "x"),
    }
    assert api.post(f"{API}/runs/{run_id}/batch", json=batch).status_code == 200
    run = api.get(f"{API}/runs/{run_id}").json()
    assert sorted(run["metrics"]) == sorted(run["params"]) == sorted(run["tags"]) == sorted(keys)


# -- metric values are numbers -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["41", "high", "nan ", True, None, [1]])  # "NaN": ADR 33
def test_a_metric_value_that_is_not_a_number_is_refused(
    api: TestClient, services: Services, value: Any
) -> None:
    run_id = new_run(api, "churn")
    before = state(services)
    batch = {"metrics": {"key": ["ok", "auc"], "value": [0.5, value]}}
    assert_problem(api.post(f"{API}/runs/{run_id}/batch", json=batch), 422, "invalid-input")
    assert_problem(api.post(f"{API}/projects/churn/runs", json={"batch": batch}), 422,
                   "invalid-input")  # fmt: skip
    assert_unchanged(services, before)


def test_integer_metric_values_are_numbers(api: TestClient) -> None:
    run_id = new_run(api, "churn")
    batch = {"metrics": {"key": ["epochs", "auc"], "value": [41, 0.5]}}
    assert api.post(f"{API}/runs/{run_id}/batch", json=batch).status_code == 200
    assert api.get(f"{API}/runs/{run_id}").json()["metrics"] == {"epochs": 41.0, "auc": 0.5}


# -- model names ---------------------------------------------------------------------------------


def test_model_names_are_unique_but_for_case(api: TestClient, services: Services) -> None:
    first, second = new_run(api, "churn"), new_run(api, "churn")
    log_model(api, first)
    log_model(api, second)
    registered = api.post(f"{API}/projects/churn/models/Income/versions",
                          json={"run_id": first, "artifact_path": "models/m"})  # fmt: skip
    assert registered.status_code == 201, registered.text
    before = state(services)
    for name in ("income", "INCOME", "iNcOmE"):
        response = api.post(f"{API}/projects/churn/models/{name}/versions",
                            json={"run_id": second, "artifact_path": "models/m"})  # fmt: skip
        body = assert_problem(response, 409, "already-exists")
        assert "model 'Income' exists" in body["detail"]
        assert body["details"] == {"model": "Income"}
        missing = assert_problem(api.get(f"{API}/projects/churn/models/{name}"), 404, "not-found")
        assert "its name is 'Income'" in missing["detail"]
    assert_unchanged(services, before)
    # the name as first written takes new versions; another project may use any case
    again = api.post(f"{API}/projects/churn/models/Income/versions",
                     json={"run_id": second, "artifact_path": "models/m"})  # fmt: skip
    assert again.json()["version"] == 2
    elsewhere = new_run(api, "risk")
    log_model(api, elsewhere)
    other = api.post(f"{API}/projects/risk/models/income/versions",
                     json={"run_id": elsewhere, "artifact_path": "models/m"})  # fmt: skip
    assert other.status_code == 201, other.text
    names = [m["name"] for m in api.get(f"{API}/projects/churn/models").json()["items"]]
    assert names == ["Income"]


# -- path segments over 255 bytes ----------------------------------------------------------------

TOO_LONG = ["a" * 256, "é" * 128, "x/" + "€" * 86]  # 256, 256 and 258 bytes in one segment
LONGEST = ["a" * 255, "é" * 127 + "a", "x/" + "€" * 85]  # 255 bytes each


@pytest.mark.parametrize("path", TOO_LONG, ids=["ascii", "two-byte", "three-byte"])
def test_a_path_segment_over_255_bytes_is_refused(
    api: TestClient, services: Services, path: str
) -> None:
    run_id = new_run(api, "churn")
    stored = api.put(f"{API}/runs/{run_id}/artifacts/stored.txt", content=b"bytes")
    file = upload_dataset_file(api, "churn", b"id\n1\n")
    before = state(services)
    body = assert_problem(
        api.put(f"{API}/runs/{run_id}/artifacts/{path}", content=b"bytes"), 422, "unsafe-path"
    )
    assert "the limit is 255 bytes" in body["detail"]
    link = {"link_artifacts": {path: stored.json()["oid"]}}
    assert_problem(api.post(f"{API}/projects/churn/runs", json=link), 422, "unsafe-path")
    version = {"files": [{**file, "path": path}], "create_dataset": True}
    response = api.post(f"{API}/projects/churn/datasets/table/versions", json=version)
    assert_problem(response, 422, "unsafe-path")
    assert_unchanged(services, before)


@pytest.mark.parametrize("path", LONGEST, ids=["ascii", "two-byte", "three-byte"])
def test_a_path_segment_of_255_bytes_is_fine(api: TestClient, path: str) -> None:
    run_id = new_run(api, "churn")
    assert api.put(f"{API}/runs/{run_id}/artifacts/{path}", content=b"ok").status_code == 201
    assert api.get(f"{API}/runs/{run_id}/artifacts/{path}").content == b"ok"


# -- the per-user storage quota ------------------------------------------------------------------

QUOTA = 1_000


@pytest.fixture
def quota_world(
    settings: Settings, serve: Any
) -> Iterator[tuple[Services, dict[str, httpx.Client]]]:
    """A server with a 1000-byte quota per user, users alice and bob (data scientists in
    project `lab`), each with an HTTP client holding their token."""
    services = Services.build(settings.with_(user_quota_bytes=QUOTA))
    owner = services.owner
    clients = {}
    try:
        with serve(create_app(services=services, allow_open=False)) as url:
            for name in ("alice", "bob"):
                services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
                secret = services.identity.create_token(owner, TokenCreate(name="t", user=name))
                clients[name] = httpx.Client(
                    base_url=url, headers={"authorization": f"Bearer {secret.secret}"}
                )
            services.projects.create(owner, ProjectCreate(name="lab"))
            for name in ("alice", "bob"):
                services.identity.set_member(
                    owner, "lab", MemberSet(user=name, role=Role.DATA_SCIENTIST)
                )
            yield services, clients
    finally:
        for client in clients.values():
            client.close()
        services.close()


def blob(size: int, seed: str) -> bytes:
    return (hashlib.sha256(seed.encode()).hexdigest().encode() * (size // 64 + 1))[:size]


def test_an_upload_past_the_quota_is_refused_with_507(
    quota_world: tuple[Services, dict[str, httpx.Client]],
) -> None:
    services, users = quota_world
    alice, bob = users["alice"], users["bob"]
    run_id = new_run(alice, "lab")
    put = alice.put(f"{API}/runs/{run_id}/artifacts/a.bin", content=blob(600, "a"))
    assert put.status_code == 201, put.text
    # the same content again counts once
    assert alice.put(f"{API}/runs/{run_id}/artifacts/copy.bin", content=blob(600, "a")).is_success
    before = state(services)
    listing = alice.get(f"{API}/runs/{run_id}/artifacts").json()
    refused = alice.put(f"{API}/runs/{run_id}/artifacts/b.bin", content=blob(401, "b"))
    body = assert_problem(refused, 507, "quota-exceeded")
    assert body["details"] == {"used": 600, "size": 401, "quota": QUOTA}
    staged = alice.put(f"{API}/projects/lab/datasets/blobs", content=blob(401, "c"))
    assert_problem(staged, 507, "quota-exceeded")
    assert_unchanged(services, before)
    assert alice.get(f"{API}/runs/{run_id}/artifacts").json() == listing
    assert not any((services.settings.home / "tmp").iterdir())  # no upload left behind

    # bob has a quota of his own, whatever alice stored (the same content counts for him too)
    bob_run = new_run(bob, "lab")
    assert bob.put(f"{API}/runs/{bob_run}/artifacts/a.bin", content=blob(600, "a")).is_success
    assert_problem(bob.put(f"{API}/runs/{bob_run}/artifacts/big.bin", content=blob(401, "d")),
                   507, "quota-exceeded")  # fmt: skip
    # up to the quota exactly is fine; past it, even a byte is refused before it is read
    assert alice.put(f"{API}/runs/{run_id}/artifacts/c.bin", content=blob(400, "e")).is_success
    full = alice.put(f"{API}/runs/{run_id}/artifacts/d.bin", content=b"x")
    assert_problem(full, 507, "quota-exceeded")
    assert_problem(alice.put(f"{API}/projects/lab/datasets/blobs", content=b"x"), 507,
                   "quota-exceeded")  # fmt: skip


def test_the_quota_setting_is_read_from_the_environment(tmp_path: Any) -> None:
    assert Settings.load({}, cwd=tmp_path).user_quota_bytes is None
    loaded = Settings.load({"TANDEM_USER_QUOTA_BYTES": "5_000_000"}, cwd=tmp_path)
    assert loaded.user_quota_bytes == 5_000_000
    for bad in ("5GB", "-1", "1.5"):
        with pytest.raises(InvalidInput, match="TANDEM_USER_QUOTA_BYTES"):
            Settings.load({"TANDEM_USER_QUOTA_BYTES": bad}, cwd=tmp_path)
