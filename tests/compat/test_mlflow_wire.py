"""MLflow's REST API as tandem answers it, one test per endpoint the `mlflow` client calls, in
MLflow's wire format: the requests are the ones the client sends (recorded from mlflow 3.18 in
/work/shared/mlflow/), the replies are checked field by field against what `mlflow server`
answers (proto-JSON: int64 as numbers, enums by name, `{}` for an empty reply, both run ids)."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.core.auth import Role
from tandem.identity.models import TokenCreate, UserCreate

API = "/api/2.0/mlflow"


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def refused(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert set(body) == {"error_code", "message"}
    return str(body["message"])


@pytest.fixture
def experiment(api) -> str:
    return ok(api.post(f"{API}/experiments/create", json={"name": "compat-exp"}))["experiment_id"]


def start(api, experiment: str, name: str = "r1", **extra: Any) -> dict[str, Any]:
    body = {
        "experiment_id": experiment,
        "user_id": "someone",
        "run_name": name,
        "start_time": 1796620256395,
        "tags": [
            {"key": "mlflow.user", "value": "someone"},
            {"key": "mlflow.source.type", "value": "LOCAL"},
            {"key": "mlflow.runName", "value": name},
        ],
        **extra,
    }
    return ok(api.post(f"{API}/runs/create", json=body))["run"]


def get_run(api, run_id: str) -> dict[str, Any]:
    return ok(api.get(f"{API}/runs/get", params={"run_uuid": run_id, "run_id": run_id}))["run"]


# -- experiments ----------------------------------------------------------------------------


def test_experiments_create_and_get(api, experiment):
    assert experiment.isdigit() and experiment != "0"
    got = ok(api.get(f"{API}/experiments/get", params={"experiment_id": experiment}))
    exp = got["experiment"]
    assert exp["experiment_id"] == experiment
    assert exp["name"] == "compat-exp"
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{experiment}"
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    again = api.post(f"{API}/experiments/create", json={"name": "compat-exp"})
    refused(again, 400, "RESOURCE_ALREADY_EXISTS")  # MLflow: 400, not 409
    refused(api.post(f"{API}/experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")


def test_experiments_get_unknown(api):
    missing = api.get(f"{API}/experiments/get", params={"experiment_id": "12345"})
    assert "12345" in refused(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    odd = api.get(f"{API}/experiments/get", params={"experiment_id": "x'1"})
    refused(odd, 404, "RESOURCE_DOES_NOT_EXIST")


def test_experiments_get_by_name(api, experiment):
    missing = api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"})
    assert refused(missing, 404, "RESOURCE_DOES_NOT_EXIST") == (
        "Could not find experiment with name 'nope'"
    )
    found = ok(api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "compat-exp"}))
    assert found["experiment"]["experiment_id"] == experiment


def test_default_experiment_exists(api):
    default = ok(api.get(f"{API}/experiments/get", params={"experiment_id": "0"}))["experiment"]
    assert (default["experiment_id"], default["name"]) == ("0", "Default")
    by_name = ok(api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "Default"}))
    assert by_name["experiment"]["experiment_id"] == "0"
    run = start(api, "0")
    assert run["info"]["experiment_id"] == "0"


def test_experiments_search(api, experiment):
    ok(api.post(f"{API}/experiments/create", json={"name": "other-exp"}))
    found = ok(api.post(f"{API}/experiments/search", json={"max_results": 1000}))["experiments"]
    assert {e["name"] for e in found} == {"Default", "compat-exp", "other-exp"}
    by_get = ok(api.get(f"{API}/experiments/search", params={"max_results": "1000"}))
    assert by_get["experiments"] == found
    named = {"filter": "name = 'compat-exp'", "max_results": 10}
    assert [
        e["name"] for e in ok(api.post(f"{API}/experiments/search", json=named))["experiments"]
    ] == ["compat-exp"]
    like = {"filter": "name LIKE '%exp'", "order_by": ["name DESC"]}
    names = [e["name"] for e in ok(api.post(f"{API}/experiments/search", json=like))["experiments"]]
    assert names == ["other-exp", "compat-exp"]
    first = ok(api.post(f"{API}/experiments/search", json={"max_results": 2, "order_by": ["name"]}))
    assert len(first["experiments"]) == 2 and first["next_page_token"]
    rest = {"max_results": 2, "order_by": ["name"], "page_token": first["next_page_token"]}
    assert [
        e["name"] for e in ok(api.post(f"{API}/experiments/search", json=rest))["experiments"]
    ] == ["other-exp"]
    bad = api.post(f"{API}/experiments/search", json={"filter": "tags.x = 'y'"})
    assert "position 0" in refused(bad, 400, "INVALID_PARAMETER_VALUE")


def test_experiments_delete_and_restore(api, experiment):
    assert ok(api.post(f"{API}/experiments/delete", json={"experiment_id": experiment})) == {}
    got = ok(api.get(f"{API}/experiments/get", params={"experiment_id": experiment}))
    assert got["experiment"]["lifecycle_stage"] == "deleted"
    active = ok(api.post(f"{API}/experiments/search", json={}))["experiments"]
    assert experiment not in {e["experiment_id"] for e in active}
    deleted = ok(api.post(f"{API}/experiments/search", json={"view_type": "DELETED_ONLY"}))
    assert [e["experiment_id"] for e in deleted["experiments"]] == [experiment]
    assert ok(api.post(f"{API}/experiments/restore", json={"experiment_id": experiment})) == {}
    assert ok(api.post(f"{API}/experiments/restore", json={"experiment_id": experiment})) == {}
    refused(api.post(f"{API}/experiments/delete", json={"experiment_id": "0"}), 400,
            "INVALID_PARAMETER_VALUE")  # fmt: skip


# -- runs -----------------------------------------------------------------------------------


def test_runs_create(api, experiment):
    run = start(api, experiment)
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32
    assert info["experiment_id"] == experiment
    assert info["run_name"] == "r1"
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    assert info["start_time"] == 1796620256395
    assert "end_time" not in info
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.runName"] == "r1" and tags["mlflow.user"] == "someone"
    assert run["inputs"] == {}
    missing = api.post(f"{API}/runs/create", json={"experiment_id": "999"})
    refused(missing, 404, "RESOURCE_DOES_NOT_EXIST")


def test_runs_create_nested(api, experiment):
    parent = start(api, experiment, "parent")["info"]["run_id"]
    child = start(api, experiment, "child", tags=[{"key": "mlflow.parentRunId", "value": parent}])
    tags = {t["key"]: t["value"] for t in get_run(api, child["info"]["run_id"])["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == parent
    search = {"experiment_ids": [experiment], "filter": f"tags.mlflow.parentRunId = '{parent}'"}
    runs = ok(api.post(f"{API}/runs/search", json=search))["runs"]
    assert [r["info"]["run_name"] for r in runs] == ["child"]


def test_runs_get(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    assert get_run(api, run_id)["info"]["run_id"] == run_id
    only_uuid = ok(api.get(f"{API}/runs/get", params={"run_uuid": run_id}))
    assert only_uuid["run"]["info"]["run_uuid"] == run_id
    missing = api.get(f"{API}/runs/get", params={"run_id": "0" * 32})
    refused(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    prefix = api.get(f"{API}/runs/get", params={"run_id": run_id[:8]})
    refused(prefix, 404, "RESOURCE_DOES_NOT_EXIST")  # MLflow's ids are whole
    refused(api.get(f"{API}/runs/get"), 400, "INVALID_PARAMETER_VALUE")


def test_runs_update(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    body = {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED", "end_time": 1796620292966}
    info = ok(api.post(f"{API}/runs/update", json=body))["run_info"]
    assert (info["status"], info["end_time"]) == ("FINISHED", 1796620292966)
    renamed = ok(api.post(f"{API}/runs/update", json={"run_id": run_id, "run_name": "r2"}))
    assert renamed["run_info"]["run_name"] == "r2"
    bad = api.post(f"{API}/runs/update", json={"run_id": run_id, "status": "DONE"})
    refused(bad, 400, "INVALID_PARAMETER_VALUE")


def test_runs_delete_and_restore(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    assert ok(api.post(f"{API}/runs/delete", json={"run_id": run_id})) == {}
    assert get_run(api, run_id)["info"]["lifecycle_stage"] == "deleted"
    search = {"experiment_ids": [experiment]}
    assert ok(api.post(f"{API}/runs/search", json=search)) == {}
    deleted = ok(api.post(f"{API}/runs/search", json={**search, "run_view_type": "DELETED_ONLY"}))
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [run_id]
    log = api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "a", "value": "b"})
    refused(log, 400, "INVALID_PARAMETER_VALUE")  # a deleted run takes no writes
    assert ok(api.post(f"{API}/runs/restore", json={"run_id": run_id})) == {}
    assert ok(api.post(f"{API}/runs/restore", json={"run_id": run_id})) == {}
    assert get_run(api, run_id)["info"]["lifecycle_stage"] == "active"


def test_runs_log_parameter(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    body = {"run_uuid": run_id, "key": "alpha", "value": "0.5", "run_id": run_id}
    assert ok(api.post(f"{API}/runs/log-parameter", json=body)) == {}
    assert ok(api.post(f"{API}/runs/log-parameter", json=body)) == {}  # the same value again
    changed = api.post(f"{API}/runs/log-parameter", json={**body, "value": "0.6"})
    refused(changed, 400, "INVALID_PARAMETER_VALUE")
    params = get_run(api, run_id)["data"]["params"]
    assert params == [{"key": "alpha", "value": "0.5"}]
    long_key = api.post(f"{API}/runs/log-parameter", json={**body, "key": "k" * 251})
    refused(long_key, 400, "INVALID_PARAMETER_VALUE")


def test_runs_log_metric(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    for step, value in enumerate([0.9, 0.7]):
        body = {"run_id": run_id, "key": "rmse", "value": value, "timestamp": 1000 + step,
                "step": step}  # fmt: skip
        assert ok(api.post(f"{API}/runs/log-metric", json=body)) == {}
    metrics = get_run(api, run_id)["data"]["metrics"]
    # the latest value with its own step and timestamp, as MLflow's server answers
    assert metrics == [{"key": "rmse", "value": 0.7, "timestamp": 1001, "step": 1}]
    # NaN and the infinities come as proto-JSON strings (or Python json's tokens), are stored
    # as MLflow stores them (ADR 33), and NaN goes back as "NaN"
    for step, value in enumerate(["Infinity", "-Infinity", "NaN"]):
        body = {"run_id": run_id, "key": "big", "value": value, "timestamp": 5, "step": step}
        assert ok(api.post(f"{API}/runs/log-metric", json=body)) == {}
    token = b'{"run_id": "%s", "key": "nan", "value": NaN, "timestamp": 7, "step": 4}' % (
        run_id.encode()
    )
    headers = {"content-type": "application/json"}
    assert ok(api.post(f"{API}/runs/log-metric", content=token, headers=headers)) == {}
    history = ok(api.get(f"{API}/metrics/get-history", params={"run_id": run_id,
                                                                "metric_key": "big"}))  # fmt: skip
    assert [m["value"] for m in history["metrics"]] == [
        1.7976931348623157e308,
        -1.7976931348623157e308,
        "NaN",
    ]
    latest = {m["key"]: m for m in get_run(api, run_id)["data"]["metrics"]}
    assert latest["big"] == {"key": "big", "value": "NaN", "timestamp": 5, "step": 2}
    assert latest["nan"] == {"key": "nan", "value": "NaN", "timestamp": 7, "step": 4}
    batch = {"run_id": run_id, "metrics": [{"key": "b", "value": "NaN", "timestamp": 9, "step": 3}]}
    assert ok(api.post(f"{API}/runs/log-batch", json=batch)) == {}
    # a NaN matches no comparison, as in MLflow
    search = {"experiment_ids": [experiment], "filter": "metrics.b <= 0"}
    assert ok(api.post(f"{API}/runs/search", json=search)) == {}
    search["filter"] = "metrics.rmse <= 1"
    assert len(ok(api.post(f"{API}/runs/search", json=search))["runs"]) == 1
    bad = {"run_id": run_id, "key": "rmse", "value": "high", "timestamp": 1, "step": 0}
    refused(api.post(f"{API}/runs/log-metric", json=bad), 400, "INVALID_PARAMETER_VALUE")


def test_runs_set_and_delete_tag(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    body = {"run_uuid": run_id, "key": "team", "value": "x", "run_id": run_id}
    assert ok(api.post(f"{API}/runs/set-tag", json=body)) == {}
    tags = {t["key"]: t["value"] for t in get_run(api, run_id)["data"]["tags"]}
    assert tags["team"] == "x"
    rename = {"run_id": run_id, "key": "mlflow.runName", "value": "renamed"}
    assert ok(api.post(f"{API}/runs/set-tag", json=rename)) == {}
    assert get_run(api, run_id)["info"]["run_name"] == "renamed"
    gone = {"run_id": run_id, "key": "team"}
    assert ok(api.post(f"{API}/runs/delete-tag", json=gone)) == {}
    tags = {t["key"] for t in get_run(api, run_id)["data"]["tags"]}
    assert "team" not in tags
    refused(api.post(f"{API}/runs/delete-tag", json=gone), 404, "RESOURCE_DOES_NOT_EXIST")


def test_runs_log_batch(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    body = {
        "run_id": run_id,
        "metrics": [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1000 + i, "step": i}
                    for i in range(997)],  # with 3 params and tags: MLflow's 1,000 entries
        "params": [{"key": "depth", "value": "3"}, {"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "x"}],
    }  # fmt: skip
    assert ok(api.post(f"{API}/runs/log-batch", json=body)) == {}
    run = get_run(api, run_id)
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"depth": "3", "lr": "0.1"}
    assert [(m["key"], m["value"]) for m in run["data"]["metrics"]] == [("loss", 1.0 / 997)]
    history = ok(api.get(f"{API}/metrics/get-history",
                         params={"run_id": run_id, "metric_key": "loss"}))  # fmt: skip
    assert len(history["metrics"]) == 997
    assert ok(api.post(f"{API}/runs/log-batch", json={"run_id": run_id})) == {}


@pytest.mark.parametrize(
    ("batch", "says"),
    [
        ({"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}] * 1001}, "1000 metrics"),
        ({"params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}, "100 params"),
        ({"tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]}, "100 tags"),
        ({"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}, "Duplicate"),
        ({"metrics": [{"key": "k" * 251, "value": 1, "timestamp": 1, "step": 0}]}, "250"),
        ({"tags": [{"key": "t" * 251, "value": "1"}]}, "250"),
        ({"params": [{"key": "p", "value": "v" * 6001}]}, "6000"),
        (
            {
                "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}] * 1000,
                "tags": [{"key": "t", "value": "1"}],
            },
            "in total",
        ),
    ],
)
def test_runs_log_batch_refusals(api, experiment, batch, says):
    run_id = start(api, experiment)["info"]["run_id"]
    response = api.post(f"{API}/runs/log-batch", json={"run_id": run_id, **batch})
    assert says in refused(response, 400, "INVALID_PARAMETER_VALUE")
    data = get_run(api, run_id)["data"]
    assert "params" not in data and "metrics" not in data  # nothing half-written


def test_runs_log_inputs(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    dataset = {"name": "train", "digest": "f87857e5", "source_type": "code", "source": "{}"}
    body = {"run_id": run_id, "datasets": [
        {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
    ]}  # fmt: skip
    assert ok(api.post(f"{API}/runs/log-inputs", json=body)) == {}
    run = get_run(api, run_id)
    (recorded,) = run["inputs"]["dataset_inputs"]
    assert recorded["dataset"]["name"] == "train" and recorded["dataset"]["digest"] == "f87857e5"
    assert recorded["tags"] == [{"key": "mlflow.data.context", "value": "training"}]
    assert all(not t["key"].startswith("mlflow.input.") for t in run["data"]["tags"])


def test_metrics_get_history(api, experiment):
    run_id = start(api, experiment)["info"]["run_id"]
    points = [{"key": "acc", "value": 0.5 + i / 10, "timestamp": 100 + i, "step": i}
              for i in range(3)]  # fmt: skip
    ok(api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points}))
    query = {"run_uuid": run_id, "metric_key": "acc", "run_id": run_id, "max_results": "2"}
    first = ok(api.get(f"{API}/metrics/get-history", params=query))
    assert first["metrics"] == points[:2] and first["next_page_token"]
    rest = ok(api.get(f"{API}/metrics/get-history",
                      params={**query, "page_token": first["next_page_token"]}))  # fmt: skip
    assert rest == {"metrics": points[2:]}
    none = ok(api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "x"}))
    assert none == {}


def test_runs_search(api, experiment):
    ids = {}
    for i, rmse in enumerate([0.3, 0.9, 0.5]):
        run_id = start(api, experiment, f"r{i}")["info"]["run_id"]
        ids[f"r{i}"] = run_id
        metric = {"run_id": run_id, "key": "rmse", "value": rmse, "timestamp": 1, "step": 0}
        ok(api.post(f"{API}/runs/log-metric", json=metric))
        ok(api.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "model",
                                                       "value": "gbm" if i else "lr"}))  # fmt: skip
    ok(api.post(f"{API}/runs/update", json={"run_id": ids["r1"], "status": "FINISHED"}))

    def names(**search: Any) -> list[str]:
        reply = ok(api.post(f"{API}/runs/search", json={"experiment_ids": [experiment], **search}))
        return [run["info"]["run_name"] for run in reply.get("runs", [])]

    assert names(filter="metrics.rmse < 1", order_by=["metrics.rmse ASC"]) == ["r0", "r2", "r1"]
    assert names(filter='params.model = "gbm"', order_by=["metrics.rmse DESC"]) == ["r1", "r2"]
    assert names(filter="attributes.status = 'FINISHED'") == ["r1"]
    assert names(filter="attributes.run_name = 'r2'") == ["r2"]
    assert names(filter="tags.`mlflow.runName` ILIKE 'R%'", order_by=["attributes.run_name"]) == [
        "r0", "r1", "r2"]  # fmt: skip
    assert names(order_by=["attributes.start_time DESC", "metrics.rmse"])[0] in ids
    paged = ok(api.post(f"{API}/runs/search", json={"experiment_ids": [experiment],
                                                    "max_results": 2}))  # fmt: skip
    assert len(paged["runs"]) == 2 and paged["next_page_token"]
    info = paged["runs"][0]["info"]
    assert set(info) >= {"run_id", "run_uuid", "experiment_id", "status", "start_time"}


@pytest.mark.parametrize(
    ("text", "position"),
    [("metrics.rmse <", 14), ("metrics.rmse < 1 and", 20), ("params.x = 'a", 11)],
)
def test_runs_search_malformed_filter(api, experiment, text, position):
    response = api.post(f"{API}/runs/search", json={"experiment_ids": [experiment],
                                                    "filter": text})  # fmt: skip
    assert f"position {position}" in refused(response, 400, "INVALID_PARAMETER_VALUE")


def test_unknown_endpoint(api):
    missing = api.get(f"{API}/registered-models/nothing-here")
    refused(missing, 404, "ENDPOINT_NOT_FOUND")


def test_ajax_api_answers_too(api, experiment):
    got = ok(api.get("/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": experiment}))
    assert got["experiment"]["name"] == "compat-exp"


def test_version(api):
    assert api.get("/version").text.count(".") == 2


# -- who may ----------------------------------------------------------------------------------


@pytest.fixture
def tokens(services, api):
    """A viewer of project `shared` and a stranger to it, by their API tokens."""
    from tandem.identity.models import MemberSet
    from tandem.projects.models import ProjectCreate

    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="shared"))
    secrets = {}
    for name in ("viewer", "stranger"):
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        secrets[name] = services.identity.create_token(
            owner, TokenCreate(name="t", user=name)
        ).secret
    services.identity.set_member(owner, "shared", MemberSet(user="viewer", role=Role.VIEWER))
    return secrets


def test_closed_by_default(api, tokens):
    """With users, a request without a token is refused, as by tandem's own API; the token's
    user is the one tandem's roles and 404-for-strangers apply to."""
    refused(api.post(f"{API}/experiments/search", json={}), 401, "UNAUTHENTICATED")
    bad = {"authorization": "Bearer not-a-token"}
    refused(api.post(f"{API}/experiments/search", json={}, headers=bad), 401, "UNAUTHENTICATED")
    viewer = {"authorization": f"Bearer {tokens['viewer']}"}
    stranger = {"authorization": f"Bearer {tokens['stranger']}"}
    shared = api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "shared"},
                     headers=viewer).json()["experiment"]["experiment_id"]  # fmt: skip
    create = {"experiment_id": shared, "run_name": "x"}
    refused(api.post(f"{API}/runs/create", json=create, headers=viewer), 403, "PERMISSION_DENIED")
    hidden = api.get(f"{API}/experiments/get", params={"experiment_id": shared}, headers=stranger)
    refused(hidden, 404, "RESOURCE_DOES_NOT_EXIST")
    listed = api.post(f"{API}/experiments/search", json={}, headers=stranger).json()
    assert "shared" not in {e["name"] for e in listed.get("experiments", [])}


def test_ajax_api_writes_with_a_session_cookie_need_the_csrf_token(services, api):
    """MLflow's web app calls /ajax-api/ with the browser's cookie: a change made with tandem's
    session cookie must carry the page's CSRF token there too, as under /api/."""
    password = "correct horse battery staple"
    services.identity.create_user(
        services.owner, UserCreate(name="lee", role=Role.VIEWER, password=password)
    )
    api.cookies.set("tandem_login_csrf", "form-token")
    form = {"name": "lee", "password": password, "csrf_token": "form-token"}
    assert api.post("/login", data=form, follow_redirects=False).status_code == 303
    read = api.post("/ajax-api/2.0/mlflow/experiments/search", json={})
    assert read.status_code == 403  # a POST is a change to the CSRF check, whatever it does
    assert read.json()["error_code"] == "PERMISSION_DENIED"
    create = api.post("/ajax-api/2.0/mlflow/experiments/create", json={"name": "csrf"})
    assert "CSRF" in refused(create, 403, "PERMISSION_DENIED")
    assert api.get("/ajax-api/2.0/mlflow/experiments/search").status_code == 200
