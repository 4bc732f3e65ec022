"""Odd input is a 422 problem, never a 500 (issue 20, items 7 and 13): integers past the
columns' range, versions in other scripts' digits, control characters; and the OpenAPI document
declares what the API answers. 422, not 404: the route exists and the value could never name
anything (a version v0 or v³ is malformed, not missing). Over HTTP on loopback, with one
keep-alive connection per test that must stay usable after every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_world import PROJECT, ContractWorld, build_contract_world

from tandem.core.validation import MAX_INT

API = "/api/v1"
P = f"{API}/projects/{PROJECT}"
HUGE = "9" * 30  # past 64 bits
INT32_PAST = str(2**31)  # past the SQL INTEGER columns of versions and record numbers


@pytest.fixture
def world(services) -> ContractWorld:
    return build_contract_world(services)


@pytest.fixture
def http(world: ContractWorld, live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, headers=world.headers, timeout=30) as client:
        yield client


def refused(
    http: httpx.Client, method: str, url: str, code: str = "invalid-input", **kwargs: Any
) -> dict[str, Any]:
    """Send the request; it must be a 422 problem with `code`, and the connection must stay
    open."""
    response = http.request(method, url, **kwargs)
    assert response.status_code == 422, (method, url, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert "close" not in response.headers.get("connection", "").lower()
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (422, code), body
    assert http.get(f"{API}/health").status_code == 200  # the same connection still serves
    return body


# "\u0661" is ARABIC-INDIC DIGIT ONE, which str.isdigit accepts
@pytest.mark.parametrize("version", [f"v{HUGE}", f"v{INT32_PAST}", "v³", "\u0661", "v0", "v 1"])
def test_dataset_and_model_versions_are_parsed_strictly(http: httpx.Client, version: str) -> None:
    refused(http, "GET", f"{P}/datasets/customers/versions/{version}")
    refused(http, "POST", f"{P}/datasets/customers/versions/{version}/validate")
    refused(http, "GET", f"{P}/models/gbm/versions/{version}")
    refused(http, "GET", f"{P}/models/gbm/versions/{version}/card")
    refused(http, "GET", f"{P}/datasets-diff", params={"a": f"customers@{version}", "b": "x@v1"})
    refused(http, "GET", f"{P}/lineage", params={"ref": f"datasets/customers@{version}"})


@pytest.mark.parametrize("number", [HUGE, INT32_PAST, "0", "³"])
def test_record_numbers_are_bounded(http: httpx.Client, number: str) -> None:
    refused(http, "GET", f"{P}/decisions/{number}")
    refused(http, "POST", f"{P}/decisions/{number}/accept")
    hypothesis = {"statement": "s", "owner": "contract-admin"}
    refused(http, "PUT", f"{P}/hypotheses/{number}", json=hypothesis)
    refused(http, "PATCH", f"{P}/hypotheses/{number}", json={"metric": "auc"})
    refused(http, "PATCH", f"{P}/risks/{number}", json={"mitigation": "m"})
    refused(http, "POST", f"{P}/actions/{number}/done")


@pytest.mark.parametrize("number", [HUGE, str(MAX_INT + 1), str(-MAX_INT - 2)])
def test_query_integers_are_bounded(http: httpx.Client, number: str) -> None:
    refused(http, "GET", f"{API}/audit", params={"since": number})
    refused(http, "GET", f"{API}/audit", params={"until": number})
    refused(http, "GET", f"{P}/brief", params={"version": number})
    refused(http, "GET", f"{P}/brief/diff", params={"a": number, "b": "1"})
    refused(http, "GET", f"{P}/activity", params={"limit": number})
    refused(http, "GET", f"{P}/datasets/customers/contract", params={"revision": number})
    refused(http, "GET", f"{P}/lineage", params={"ref": "runs/abcdef", "depth": number})


@pytest.mark.parametrize("number", [2**63, 2**64, -(2**63) - 1, 9e22])
def test_body_integers_are_bounded(http: httpx.Client, world: ContractWorld, number: float) -> None:
    run = f"{API}/runs/{world.run_id}"
    refused(http, "PATCH", run, json={"end_time": number})
    refused(http, "POST", f"{run}/batch", json={"end_time": number})
    metrics = {"key": ["auc"], "value": [0.5], "step": [number]}
    refused(http, "POST", f"{run}/batch", json={"metrics": metrics})
    metrics = {"key": ["auc"], "value": [0.5], "timestamp": [number]}
    refused(http, "POST", f"{run}/batch", json={"metrics": metrics})
    refused(http, "POST", f"{P}/runs", json={"seed": number})
    refused(http, "POST", f"{P}/runs", json={"start_time": number})
    refused(http, "POST", f"{API}/gc", json={"older_than_seconds": abs(number)})
    refused(http, "POST", f"{API}/gc", json={"grace_seconds": abs(number)})
    refused(http, "POST", f"{API}/runs/search", json={"project": PROJECT, "limit": number})
    decision = {"title": "t", "decision": "d", "supersedes": number}
    refused(http, "POST", f"{P}/decisions", json=decision)
    refused(http, "PUT", f"{P}/brief", json={"goal": "g", "base_version": number})
    refused(http, "PUT", f"{P}/models/gbm/aliases/champion", json={"version": number})
    # nothing of it was applied
    run_now = http.get(run).json()
    assert run_now["end_time"] is None and run_now["metrics"] == {}


def test_gc_seconds_are_bounded_to_what_fits_in_milliseconds(http: httpx.Client) -> None:
    body = refused(http, "POST", f"{API}/gc", json={"older_than_seconds": MAX_INT // 1000 + 1})
    assert body["code"] == "invalid-input"
    ok = http.post(f"{API}/gc", json={"older_than_seconds": MAX_INT // 1000, "dry_run": True})
    assert ok.status_code == 200, ok.text


CONTRACT = "apiVersion: v3.0.2\nkind: DataContract\nid: customers\nstatus: active\n"


@pytest.mark.parametrize("char", ["\x00", "\x05", "\x1f", "\x7f", "\x9b", "\ufffe"])
def test_control_character_in_a_contract_is_invalid_input(http: httpx.Client, char: str) -> None:
    text = CONTRACT + f"description:\n  purpose: a{char}b\n"
    # a NUL is refused as it arrives, as in any JSON body; the others by the contract's parser
    code = "invalid-input" if char == "\x00" else "invalid-contract"
    body = refused(http, "PUT", f"{P}/datasets/customers/contract", code, json={"text": text})
    if char != "\x00":  # a NUL is refused as it arrives (test_nul_in_a_json_body)
        assert body["details"]["line"] == 6
        assert f"U+{ord(char):04X}" in body["detail"]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/projects/a%00b",
        f"{P}/datasets/a%00b",
        f"{P}/models/a%1Fb",
        f"{P}/criteria/a%7Fb",
        f"{API}/users/a%00",
        f"{API}/datasets?q=a%00b",
        f"{P}/decisions?q=a%1Bb",
        f"{API}/audit?actor=%00",
    ],
)
def test_control_characters_in_the_url_are_invalid_input(http: httpx.Client, url: str) -> None:
    body = refused(http, "GET", url)
    assert "control character" in body["detail"]


def test_nul_in_a_json_body_is_invalid_input_and_changes_nothing(
    http: httpx.Client, world: ContractWorld
) -> None:
    decision = {"title": "a\x00b", "decision": "d"}
    assert "NUL" in refused(http, "POST", f"{P}/decisions", json=decision)["detail"]
    refused(http, "POST", f"{API}/runs/{world.run_id}/batch", json={"tags": {"k": "\x00"}})
    assert len(http.get(f"{P}/decisions").json()) == 1
    # an escaped backslash before u0000 is text, not a NUL
    created = http.post(f"{P}/decisions", json={"title": "a\\u0000b", "decision": "d"})
    assert created.status_code == 201 and created.json()["title"] == "a\\u0000b"


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", f"{API}/runs/0123456789abcdef0123456789abcdef", "DELETE, GET, PATCH"),
        ("DELETE", f"{P}/runs", "POST"),  # a hot route (served ahead of FastAPI's)
        ("POST", f"{P}/decisions/1", "GET"),
        ("PATCH", f"{API}/health", "GET"),
    ],
)
def test_method_not_allowed_is_a_problem_with_allow(
    http: httpx.Client, method: str, url: str, allow: str
) -> None:
    response = http.request(method, url)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == allow
    assert response.json()["code"] == "method-not-allowed"


def _integers(node: Any, schemas: dict[str, Any], seen: frozenset[str]) -> Iterator[dict]:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from _integers(schemas[name], schemas, seen | {name})
            return
        if node.get("type") == "integer":
            yield node
        for value in node.values():
            yield from _integers(value, schemas, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _integers(item, schemas, seen)


def test_every_integer_a_client_sends_is_bounded_in_the_document(http: httpx.Client) -> None:
    """A new parameter or body field typed plain `int` fails here: use the bounded types of
    `tandem.core.validation` (Int64, NonNegativeInt, Number, Seconds)."""
    document = http.get(f"{API}/openapi.json").json()
    schemas = document["components"]["schemas"]
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            sent = [p["schema"] for p in operation.get("parameters", [])]
            sent.append(operation.get("requestBody", {}))
            for schema in _integers(sent, schemas, frozenset()):
                if not (-MAX_INT - 1 <= schema.get("minimum", -(2**64)) <= MAX_INT) or not (
                    schema.get("maximum", 2**64) <= MAX_INT
                ):
                    unbounded.append(f"{method.upper()} {path}: {schema}")
    assert not unbounded, unbounded


def test_the_document_declares_the_problem_responses(http: httpx.Client) -> None:
    document = http.get(f"{API}/openapi.json").json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code", "instance"}
    responses = document["components"]["responses"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "404", "409", "413", "415", "422"):
                ref = operation["responses"][status]["$ref"]
                content = responses[ref.rsplit("/", 1)[-1]]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
    # and what the API sends matches it
    response = http.get(f"{P}/decisions/{HUGE}")
    assert set(response.json()) >= set(problem["required"])
