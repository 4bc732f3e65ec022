"""The REST API as a client sees it: status codes, problem+json errors, the OpenAPI document."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

API = "/api/v1"
OPENAPI_SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["detail"] and "Traceback" not in body["detail"]
    return body


def make_run(api: TestClient, project: str = "churn") -> str:
    response = api.post(f"{API}/projects/{project}/runs", json={"create_project": True})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_health(api: TestClient) -> None:
    assert api.get(f"{API}/health").json()["status"] == "ok"


def test_openapi_matches_the_snapshot(api: TestClient) -> None:
    """The API's contract changes only on purpose: regenerate with TANDEM_UPDATE_SNAPSHOTS=1
    (only then is the snapshot written; a missing one fails)."""
    document = api.get(f"{API}/openapi.json").json()
    rendered = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TANDEM_UPDATE_SNAPSHOTS") == "1":
        OPENAPI_SNAPSHOT.write_text(rendered)
    assert OPENAPI_SNAPSHOT.exists(), (
        f"{OPENAPI_SNAPSHOT} is missing: write it with TANDEM_UPDATE_SNAPSHOTS=1, then review it"
    )
    assert rendered == OPENAPI_SNAPSHOT.read_text(), (
        "the OpenAPI document changed: review it, then rerun with TANDEM_UPDATE_SNAPSHOTS=1"
    )


def test_run_lifecycle(api: TestClient) -> None:
    run_id = make_run(api)
    batch = {
        "batch_id": "one",
        "params": {"model": "gbm"},
        "tags": {"team": "retention"},
        "metrics": {"key": ["auc", "auc"], "value": [0.5, 0.7], "step": [0, 1]},
    }
    assert api.post(f"{API}/runs/{run_id}/batch", json=batch).json() == {
        "applied": True,
        "points": 2,
    }
    assert api.post(f"{API}/runs/{run_id}/batch", json=batch).json()["applied"] is False
    run = api.get(f"{API}/runs/{run_id}").json()
    assert run["metrics"] == {"auc": 0.7}
    assert run["params"] == {"model": "gbm"}
    finished = api.patch(f"{API}/runs/{run_id}", json={"status": "finished"}).json()
    assert finished["status"] == "finished"
    body = assert_problem(
        api.patch(f"{API}/runs/{run_id}", json={"status": "running"}), 409, "conflict"
    )
    assert "already ended" in body["detail"]
    history = api.get(f"{API}/runs/{run_id}/metrics/auc").json()
    assert history["step"] == [0, 1] and history["value"] == [0.5, 0.7]


def test_search_over_rest(api: TestClient) -> None:
    for auc in (0.2, 0.9, 0.6):
        run_id = make_run(api)
        api.post(
            f"{API}/runs/{run_id}/batch",
            json={"params": {"model": "x"}, "metrics": {"key": ["acc"], "value": [auc]}},
        )
    page = api.post(
        f"{API}/runs/search",
        json={
            "project": "churn",
            "filter": "metrics.acc > 0.5 and params.model = 'x'",
            "order_by": ["metrics.acc DESC"],
            "limit": 1,
        },
    ).json()
    assert [run["metrics"]["acc"] for run in page["items"]] == [0.9]
    assert page["next_cursor"]
    rest = api.post(
        f"{API}/runs/search",
        json={
            "project": "churn",
            "filter": "metrics.acc > 0.5 and params.model = 'x'",
            "order_by": ["metrics.acc DESC"],
            "cursor": page["next_cursor"],
        },
    ).json()
    assert [run["metrics"]["acc"] for run in rest["items"]] == [0.6]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/runs/" + "0" * 32, None, 404, "not-found"),
        ("get", "/runs/zz", None, 422, "invalid-input"),
        ("get", "/projects/nope", None, 404, "not-found"),
        ("get", "/nowhere", None, 404, "not-found"),
        ("delete", "/health", None, 405, "method-not-allowed"),
        ("post", "/projects/Bad Name!/runs", {"create_project": True}, 422, "invalid-input"),
        ("post", "/runs/search", {"project": "churn", "filter": "a >"}, 422, "invalid-filter"),
        ("post", "/runs/search", {"project": "churn", "limit": 0}, 422, "invalid-input"),
        ("post", "/runs/search", {"project": "churn", "cursor": "garbage"}, 422, "invalid-input"),
        ("post", "/runs/search", {"filter": 3}, 422, "invalid-input"),
    ],
)
def test_errors_are_problem_json(
    api: TestClient, method: str, path: str, body: dict | None, status: int, code: str
) -> None:
    api.post(f"{API}/projects", json={"name": "churn"})
    kwargs = {"json": body} if body is not None else {}
    assert_problem(getattr(api, method)(f"{API}{path}", **kwargs), status, code)


def test_malformed_json_body(api: TestClient) -> None:
    run_id = make_run(api)
    response = api.post(
        f"{API}/runs/{run_id}/batch",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, "invalid-input")


def test_hot_routes_are_served_first_and_read_their_parameters(api: TestClient) -> None:
    """The hot routes (ADR 18) are plain Starlette routes ahead of FastAPI's; they take their
    path and query parameters as FastAPI would, and answer errors the same way."""
    declared = api.app.state.hot_routes  # the routers' `hot_route` declarations

    first = [(next(iter(route.methods)), route.path) for route in api.app.routes[: len(declared)]]
    assert first == [(next(iter(hot.methods)), API + hot.path) for hot in declared]
    run_id = make_run(api, "churn")
    make_run(api, "other")
    batch = {"metrics": {"key": ["auc"], "value": [0.5]}}
    ok = api.post(f"{API}/runs/{run_id}/batch", params={"project": "churn"}, json=batch)
    assert ok.json() == {"applied": True, "points": 1}
    elsewhere = api.post(f"{API}/runs/{run_id}/batch", params={"project": "other"}, json=batch)
    assert "not in project" in assert_problem(elsewhere, 404, "not-found")["detail"]
    assert api.post(f"{API}/projects/other/runs", json={}).json()["project"] == "other"
    assert_problem(api.post(f"{API}/projects/nowhere/runs", json={}), 404, "not-found")
    assert api.get(f"{API}/runs/{run_id}/batch").status_code == 405
    assert api.get(f"{API}/runs/{run_id}").json()["metrics"] == {"auc": 0.5}


def test_invalid_filter_carries_its_position(api: TestClient) -> None:
    make_run(api)
    body = assert_problem(
        api.post(f"{API}/runs/search", json={"project": "churn", "filter": "metrics.auc >> 1"}),
        422,
        "invalid-filter",
    )
    assert body["details"]["position"] == 13


def test_bad_batch_changes_nothing(api: TestClient) -> None:
    run_id = make_run(api)
    api.post(f"{API}/runs/{run_id}/batch", json={"params": {"lr": "0.1"}})
    # a param logged once cannot change: the run's state refuses it (409)
    conflict = {"params": {"lr": "0.2"}, "metrics": {"key": ["a"], "value": [1.0]}}
    assert_problem(api.post(f"{API}/runs/{run_id}/batch", json=conflict), 409, "conflict")
    malformed = [
        {"tags": {"ok": "1"}, "metrics": {"key": ["a", "b"], "value": [1.0]}},  # ragged columns
        {"tags": {"ok": "1"}, "metrics": {"key": [""], "value": [1.0]}},  # empty key
        {"tags": {"ok": "1"}, "metrics": {"key": ["a"], "value": [1.0], "step": [-1]}},
        {"tags": {"x" * 251: "1"}},
        {"tags": {"ok": "1"}, "end_status": "exploded"},
    ]
    for batch in malformed:  # whatever the run's state, these could never be stored (422)
        assert_problem(api.post(f"{API}/runs/{run_id}/batch", json=batch), 422, "invalid-input")
    run = api.get(f"{API}/runs/{run_id}").json()
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"] == {}
    assert run["metrics"] == {}
    assert run["status"] == "running"


def test_artifact_upload_download_headers(api: TestClient) -> None:
    run_id = make_run(api)
    put = api.put(f"{API}/runs/{run_id}/artifacts/plots/roc.png", content=b"png bytes")
    assert put.status_code == 201, put.text
    oid = put.json()["oid"]
    got = api.get(f"{API}/runs/{run_id}/artifacts/plots/roc.png")
    assert got.content == b"png bytes"
    assert got.headers["x-tandem-oid"] == oid
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["etag"].strip('"') == oid
    listing = api.get(f"{API}/runs/{run_id}/artifacts").json()
    assert [a["path"] for a in listing] == ["plots/roc.png"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("..%2Fevil", "unsafe-path"),
        ("a/%2e%2e/b", "unsafe-path"),
        ("a%5Cb", "unsafe-path"),
        ("%2Fetc%2Fpasswd", "unsafe-path"),
        ("a%00b", "invalid-input"),  # a control character: refused before routing
        ("a%2F%2E%2Fb", "unsafe-path"),
    ],
)
def test_unsafe_artifact_paths_over_rest(api: TestClient, path: str, code: str) -> None:
    run_id = make_run(api)
    response = api.put(f"{API}/runs/{run_id}/artifacts/{path}", content=b"x")
    assert_problem(response, 422, code)  # the run exists; the path could never be stored
    assert api.get(f"{API}/runs/{run_id}/artifacts").json() == []


def test_project_soft_delete_and_restore(api: TestClient) -> None:
    make_run(api)
    assert api.delete(f"{API}/projects/churn").json()["deleted_at"] is not None
    assert [p["name"] for p in api.get(f"{API}/projects").json()["items"]] == []
    api.post(f"{API}/projects/churn/restore")
    assert [p["name"] for p in api.get(f"{API}/projects").json()["items"]] == ["churn"]
