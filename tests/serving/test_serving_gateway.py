"""The gateway as a real uvicorn process on loopback, serving models registered in a real hub
and downloaded through the SDK: MLflow's formats and the Open Inference Protocol v2 answer what
the models answer, every bad request gets one exact status and code, headers and metrics are
there, the split and sticky keys hold over real requests, a policy change under load fails no
request, and a shadow is compared off the primary's path."""

from __future__ import annotations

import collections
import json
import threading

import httpx
import pytest

from conftest import FRAME, Models, policy
from tandem.deployments.models import Role

pytestmark = pytest.mark.slow

ROWS = FRAME.head(5)
SPLIT = {"dataframe_split": {"columns": ["tenure", "charges"], "data": ROWS.to_numpy().tolist()}}


def test_mlflow_formats_and_v2_answer_what_the_model_answers(models: Models, start_gateway) -> None:
    gateway = start_gateway(policy(models.route("lr1", "d-1")))
    expected = models.local["lr1"].predict(ROWS).tolist()
    http = gateway.http
    answer = http.post("/invocations", json=SPLIT, headers={"X-Request-Id": "req-1"})
    assert answer.status_code == 200 and answer.json() == {"predictions": expected}
    assert answer.headers["x-request-id"] == "req-1"
    assert answer.headers["x-tandem-version"] == "lr@1"
    records = http.post("/invocations", json={"dataframe_records": ROWS.to_dict("records")})
    assert records.json() == {"predictions": expected}
    generated = records.headers["x-request-id"]
    assert len(generated) >= 16
    csv = http.post("/invocations", content=ROWS.to_csv(index=False),
                    headers={"Content-Type": "text/csv"})  # fmt: skip
    assert csv.json() == {"predictions": expected}
    v2 = http.post("/v2/models/prod/infer", json={"id": "v2-1", "inputs": [
        {"name": c, "shape": [5], "datatype": "FP64", "data": ROWS[c].tolist()}
        for c in ROWS.columns
    ]})  # fmt: skip
    assert v2.status_code == 200
    assert v2.json()["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [5], "data": expected}
    ]
    assert v2.json()["id"] == "v2-1" and v2.json()["model_version"] == "lr@1"
    meta = http.get("/v2/models/prod").json()
    assert meta["name"] == "prod" and [i["name"] for i in meta["inputs"]] == ["tenure", "charges"]
    assert http.get("/v2/health/ready").status_code == 200
    assert http.get("/ping").status_code == 200
    health = http.get("/health").json()
    assert health["deployments"][0]["fast_path"] == "linear" and health["policy_version"] == 1
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'tandem_requests_total{endpoint="prod",version="lr@1",status="200"} 4' in metrics.text
    assert 'tandem_request_duration_seconds_count{endpoint="prod",version="lr@1"} 4' in metrics.text
    logged = {line[0]: line for line in gateway.lines_until("log", lambda lines: len(lines) >= 4)}
    assert set(logged) >= {"req-1", generated, "v2-1"} - {"v2-1"}
    _, _, deployment, model, version, status, latency, inputs, output = logged["req-1"]
    assert (deployment, model, version, status) == ("d-1", "lr", 1, 200) and latency > 0
    assert inputs.startswith('{"columns":["tenure","charges"],"data":[[')
    # a classifier's answer is logged with its positive-class score (ADR 28)
    scores = models.local["lr1"].predict_proba(ROWS)[:, 1]
    assert json.loads(output) == [
        {"prediction": label, "score": pytest.approx(score, rel=1e-9)}
        for label, score in zip(expected, scores, strict=True)
    ]
    windows = gateway.lines_until("windows", lambda w: sum(x["requests"] for x in w) >= 4)
    assert sum(w["requests"] for w in windows if w["deployment"] == "d-1") == 4


def test_a_lightgbm_and_a_trusted_python_model_serve(models: Models, start_gateway) -> None:
    gateway = start_gateway(policy(models.route("gbm", "d-g")))
    got = gateway.http.post("/invocations", json=SPLIT).json()["predictions"]
    assert got == pytest.approx(models.local["gbm"].predict(ROWS).tolist())
    many = {
        "dataframe_split": {"columns": ["tenure", "charges"], "data": FRAME.to_numpy().tolist()}
    }
    got = gateway.http.post("/invocations", json=many).json()["predictions"]  # off the loop
    assert got == pytest.approx(models.local["gbm"].predict(FRAME).tolist())
    gateway.set_policy(policy(models.route("slow", "d-s", trusted=True), version=2))
    answer = gateway.http.post("/invocations", json=SPLIT)
    assert answer.json() == {"predictions": [7] * 5}
    assert answer.headers["x-tandem-version"] == "slow@1"


def test_a_pickle_the_deployer_did_not_trust_fails_to_load_and_the_old_table_serves(
    models: Models, start_gateway
) -> None:
    gateway = start_gateway(policy(models.route("lr1", "d-1")))
    gateway.policy_file.write_bytes(
        policy(models.route("slow", "d-s"), version=2).model_dump_json().encode()
    )
    line = gateway.next_line()
    assert line.startswith("failed slow@1 did not load:") and "pickle" in line
    answer = gateway.http.post("/invocations", json=SPLIT)
    assert answer.status_code == 200 and answer.headers["x-tandem-version"] == "lr@1"


BAD_REQUESTS = [
        ({"json": {"dataframe_records": [{"tenure": 1.0}]}}, 422, "invalid-input",
         "missing column 'charges'"),
        ({"json": {"dataframe_records": [{"tenure": "x", "charges": 1.0}]}}, 422,
         "invalid-input", "column 'tenure' (row 0) must be a number"),
        ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400,
         "invalid-json", "not JSON"),
        ({"content": b"tenure", "headers": {"Content-Type": "text/plain"}}, 415,
         "unsupported-media-type", "send application/json or text/csv"),
        ({"json": {"instances": [[1.0, 2.0]] * 3_000}}, 413, "payload-too-large",
         "the limit is 20000"),
        ({"json": {"instances": [[1.0, 2.0]] * 11}}, 413, "too-many-rows",
         "lr@1 takes at most 10 per request"),
        ({"json": SPLIT, "headers": {"X-Request-Id": "no spaces please"}}, 400,
         "invalid-request-id", "X-Request-Id must be"),
]  # fmt: skip


def test_each_bad_request_is_one_status_and_code(models: Models, start_gateway) -> None:
    gateway = start_gateway(policy(models.route("lr1", "d-1", max_rows=10)), max_body=20_000)
    for request_kwargs, status, code, words in BAD_REQUESTS:
        answer = gateway.http.post("/invocations", **request_kwargs)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == code and words in answer.json()["detail"]
    assert gateway.http.post("/preview/invocations", json=SPLIT).json()["code"] == "no-preview"
    assert gateway.http.get("/nowhere").status_code == 404
    assert gateway.http.get("/invocations").headers["allow"] == "POST"
    assert gateway.http.post("/v2/models/other/infer", json={}).status_code == 404
    metrics = gateway.http.get("/metrics").text
    assert 'tandem_requests_total{endpoint="prod",version="lr@1",status="422"} 2' in metrics


def test_the_split_and_sticky_keys_hold_over_real_requests(models: Models, start_gateway) -> None:
    gateway = start_gateway(
        policy(
            models.route("lr1", "d-1", weight=90),
            models.route("lr2", "d-2", Role.CANARY, 10),
            sticky="header:X-User",
        )
    )
    body = {"instances": [[20.0, 70.0]]}
    seen = collections.Counter(
        gateway.http.post("/invocations", json=body).headers["x-tandem-version"]
        for _ in range(2_000)
    )
    assert abs(seen["lr@2"] / 2_000 - 0.10) < 0.01
    for user in ("ann", "bob", "cy", "dee", "eve"):
        versions = {
            gateway.http.post("/invocations", json=body, headers={"X-User": user}).headers[
                "x-tandem-version"
            ]
            for _ in range(20)
        }
        assert len(versions) == 1


def test_a_policy_change_under_load_fails_no_request(models: Models, start_gateway) -> None:
    gateway = start_gateway(policy(models.route("lr1", "d-1")))
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            while not stop.is_set():
                answer = http.post("/invocations", json={"instances": [[20.0, 70.0]]})
                answers.append((answer.status_code, answer.headers.get("x-tandem-version", "")))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        half = models.route("lr1", "d-1", weight=50), models.route("lr2", "d-2", Role.CANARY, 50)
        gateway.set_policy(policy(*half, version=2))
        gateway.set_policy(policy(models.route("lr2", "d-2"), version=3))
        gateway.set_policy(policy(models.route("lr1", "d-1"), version=4))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert answers and {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {"lr@1", "lr@2"}


def test_the_preview_url_answers_with_the_blue_green_candidate(
    models: Models, start_gateway
) -> None:
    preview = models.route("lr2", "d-2", Role.PREVIEW, 0)
    gateway = start_gateway(policy(models.route("lr1", "d-1"), preview))
    answer = gateway.http.post("/preview/invocations", json=SPLIT)
    assert answer.headers["x-tandem-version"] == "lr@2"
    assert answer.json() == {"predictions": models.local["lr2"].predict(ROWS).tolist()}
    for _ in range(20):
        answer = gateway.http.post("/invocations", json=SPLIT)
        assert answer.headers["x-tandem-version"] == "lr@1"


def test_a_shadow_is_compared_after_the_answer(models: Models, start_gateway) -> None:
    gateway = start_gateway(
        policy(
            models.route("lr1", "d-1"),
            models.route("lr2", "d-2", Role.SHADOW, 0, mirror=100),
            models.route("lr1", "d-3", Role.SHADOW, 0, mirror=100),
        )
    )
    for _ in range(50):
        answer = gateway.http.post("/invocations", json=SPLIT)
        assert answer.headers["x-tandem-version"] == "lr@1"

    def shadow_figures(windows: list) -> dict[str, collections.Counter]:
        figures: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for window in windows:
            if window["shadow"]:
                figures[window["deployment"]].update(window["shadow"])
        return figures

    windows = gateway.lines_until(
        "windows", lambda w: all(shadow_figures(w)[d]["compared"] == 50 for d in ("d-2", "d-3"))
    )
    figures = shadow_figures(windows)
    opposite, same = figures["d-2"], figures["d-3"]
    assert opposite["compared"] == same["compared"] == 50
    assert opposite["agreed"] == 0 and same["agreed"] == 50  # lr@2 answers the opposite
    assert same["abs_diff_sum"] == 0 and opposite["abs_diff_sum"] > 0
    assert opposite["errors"] == same["errors"] == 0
    assert sum(w["requests"] for w in windows if w["deployment"] == "d-1") == 50
