"""The gateway's ASGI app in process: the lifespan runs the control plane's hooks, a gateway
with no policy yet answers 503 with a problem body, and `swap` serves the new table from the
next request on."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson
from sklearn.linear_model import LogisticRegression

from tandem.deployments.models import Policy, PolicyRoute, Role
from tandem.serving.app import Gateway
from tandem.serving.predictor import build_predictor
from tandem.serving.recorder import WindowRecorder
from tandem.serving.router import RoutingTable


def _call(
    gateway: Gateway, method: str, path: str, body: bytes = b"", root_path: str = ""
) -> tuple[int, dict, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "root_path": root_path}
    asyncio.run(gateway(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"]


def _lifespan(gateway: Gateway, *kinds: str) -> list[str]:
    inbox = [{"type": f"lifespan.{kind}"} for kind in kinds]
    answers: list[str] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        answers.append(message["type"])

    asyncio.run(gateway({"type": "lifespan"}, receive, send))
    return answers


def test_the_lifespan_runs_sync_and_async_hooks_and_reports_a_failed_start() -> None:
    ran: list[str] = []

    async def start_async() -> None:
        ran.append("async")

    gateway = Gateway(
        RoutingTable.empty("prod"), WindowRecorder(),
        on_startup=[lambda: ran.append("sync"), start_async],
        on_shutdown=[lambda: ran.append("stop")],
    )  # fmt: skip
    answers = _lifespan(gateway, "startup", "shutdown")
    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert ran == ["sync", "async", "stop"]

    def broken() -> None:
        raise RuntimeError("hub unreachable and no cached policy")

    failing = Gateway(RoutingTable.empty("prod"), WindowRecorder(), on_startup=[broken])
    assert _lifespan(failing, "startup") == ["lifespan.startup.failed"]


def test_no_policy_yet_is_503_and_a_swap_serves_the_next_request() -> None:
    gateway = Gateway(RoutingTable.empty("prod"), WindowRecorder())
    body = b'{"instances": [[3.0]]}'
    status, headers, answer = _call(gateway, "POST", "/invocations", body)
    assert status == 503 and headers["content-type"] == "application/problem+json"
    assert orjson.loads(answer)["code"] == "not-ready" and "x-request-id" in headers
    assert _call(gateway, "GET", "/v2/health/ready")[0] == 503
    assert _call(gateway, "GET", "/v2/health/live")[0] == 200

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    route = PolicyRoute(
        deployment="d-1", model="lr", version=4, role=Role.PRIMARY, weight=100,
        flavor="sklearn", format="skops", trusted=False,
        signature={"inputs": [{"name": "x", "type": "float64"}]},
    )  # fmt: skip
    policy = Policy(project="p", endpoint="prod", policy_version=7, production=False,
                    routes=[route])  # fmt: skip
    predictor = build_predictor(model, "sklearn", route.signature)
    old = gateway.swap(RoutingTable.build(policy, {"d-1": predictor}))
    assert old.policy_version == -1 and gateway.table.policy_version == 7
    status, headers, answer = _call(gateway, "POST", "/invocations", body)
    assert status == 200 and orjson.loads(answer) == {"predictions": [1]}
    assert headers["x-tandem-version"] == "lr@4"
    mounted = _call(gateway, "POST", "/models/prod/invocations", body, root_path="/models/prod")
    assert mounted[0] == 200 and orjson.loads(mounted[2]) == {"predictions": [1]}
    health = orjson.loads(_call(gateway, "GET", "/health")[2])
    assert health["policy_version"] == 7 and health["weights"] == {"lr@4": 100.0}


def test_a_sticky_field_reaches_the_same_version_and_is_not_a_model_input() -> None:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    signature = {"inputs": [{"name": "x", "type": "float64"}]}
    routes = [
        PolicyRoute(deployment=f"d-{v}", model="lr", version=v, role=role, weight=50,
                    flavor="sklearn", format="skops", trusted=False, signature=signature)
        for v, role in ((1, Role.PRIMARY), (2, Role.CANARY))
    ]  # fmt: skip
    policy = Policy(project="p", endpoint="prod", policy_version=1, production=False,
                    sticky_key="field:customer", routes=routes)  # fmt: skip
    predictor = build_predictor(model, "sklearn", signature)
    gateway = Gateway(RoutingTable.build(policy, {r.deployment: predictor for r in routes}),
                      WindowRecorder())  # fmt: skip
    reached = {}
    for customer in ("c-1", "c-2", "c-3", "c-4", "c-5", "c-6"):
        body = orjson.dumps({"dataframe_records": [{"customer": customer, "x": 3.0}]})
        versions = set()
        for _ in range(10):
            status, headers, answer = _call(gateway, "POST", "/invocations", body)
            assert status == 200 and orjson.loads(answer) == {"predictions": [1]}
            versions.add(headers["x-tandem-version"])
        assert len(versions) == 1
        reached[customer] = versions.pop()
    assert set(reached.values()) == {"lr@1", "lr@2"}  # six keys, both halves reached


class Failing:
    def predict(self, frame: Any) -> list[int]:
        raise ValueError("the feature store is down")


def test_a_model_that_raises_is_a_500_counted_as_an_error_in_the_window() -> None:
    signature = {"inputs": [{"name": "x", "type": "float64"}]}
    route = PolicyRoute(
        deployment="d-9", model="bad", version=1, role=Role.PRIMARY, weight=100,
        flavor="python", format="pickle", trusted=True, signature=signature,
    )  # fmt: skip
    policy = Policy(project="p", endpoint="prod", policy_version=1, production=False,
                    routes=[route])  # fmt: skip
    recorder = WindowRecorder()
    predictor = build_predictor(Failing(), "python", signature)
    gateway = Gateway(RoutingTable.build(policy, {"d-9": predictor}), recorder)
    for _ in range(3):
        status, headers, answer = _call(gateway, "POST", "/invocations", b'{"inputs": [[1.0]]}')
        assert status == 500 and headers["x-tandem-version"] == "bad@1"
        problem = orjson.loads(answer)
        assert problem["code"] == "prediction-failed"
        assert problem["detail"] == "bad@1 failed: ValueError: the feature store is down"
    (window,) = recorder.drain()
    assert (window.deployment, window.requests, window.errors) == ("d-9", 3, 3)
