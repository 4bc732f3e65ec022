"""The served app's edge (issue 20): open access decided per request (a loopback peer of an app
told it may be open), Host checks against DNS rebinding (421), cross-origin requests refused in
open mode (403), JSON routes refusing other content types (415), body limits (413), params and
tags capped per batch (422), and clients that vanish mid-upload logged in one line.

Over HTTP on loopback against real uvicorn servers wherever the network can show it; only the
non-loopback peer goes through the ASGI scope (a test cannot send from 203.0.113.9)."""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from tandem import errors
from tandem.core.config import Settings
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.tracking.models import RunCreate, RunSearch

API = "/api/v1"
LIMITS = {"max_body_bytes": 4096, "max_upload_bytes": 64 * 1024}
SRC = Path(__file__).resolve().parents[2] / "src"
# The test machine may be busy: wait for answers rather than fail on a slow one.
get, post, put, request = (
    functools.partial(call, timeout=120)
    for call in (httpx.get, httpx.post, httpx.put, httpx.request)
)


@pytest.fixture
def small(settings: Settings) -> Iterator[Services]:
    """Services with small body limits (4 KiB bodies, 64 KiB uploads), and a run to write to."""
    built = Services.build(settings.with_(**LIMITS))
    built.projects.create(built.owner, ProjectCreate(name="churn"))
    yield built
    built.close()


@pytest.fixture
def open_url(small: Services, serve) -> Iterator[str]:
    """`tandem server` on loopback: open while the workspace has no users."""
    with serve(create_app(services=small, allow_open=True)) as url:
        yield url


def run_in(services: Services) -> str:
    return services.tracking.create_run(services.owner, "churn", RunCreate()).id


def runs_in(services: Services) -> int:
    page = services.tracking.search_runs(services.owner, RunSearch(project="churn"))
    return len(page.items)


# -- open mode is decided per request -----------------------------------------------------


def test_an_open_app_on_loopback_serves_a_loopback_caller(open_url: str) -> None:
    me = get(f"{open_url}{API}/me")
    assert me.status_code == 200
    assert me.json()["via"] == "open" and me.json()["is_admin"]
    created = post(f"{open_url}{API}/projects", json={"name": "vision"})
    assert created.status_code == 201


def test_a_caller_beyond_loopback_is_anonymous_even_when_open(small: Services) -> None:
    app = create_app(services=small, allow_open=True)
    with TestClient(app, base_url="http://127.0.0.1", client=("203.0.113.9", 1234)) as remote:
        me = remote.get(f"{API}/me")
        assert me.status_code == 401 and me.json()["code"] == "unauthenticated"
        refused = remote.post(f"{API}/projects", json={"name": "vision"})
        assert refused.status_code == 401
    assert [p.name for p in small.projects.list(small.owner).items] == ["churn"]


def test_an_app_is_closed_unless_told_open(small: Services, serve) -> None:
    with serve(create_app(services=small)) as url:
        me = get(f"{url}{API}/me")
    assert me.status_code == 401 and me.json()["code"] == "unauthenticated"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("told_open", [False, True])
def test_uvicorn_serving_main_is_closed_by_default(
    settings: Settings, tmp_path: Path, told_open: bool
) -> None:
    """`uvicorn tandem.server.main:app`, as a process manager runs it: closed without
    TANDEM_OPEN=1 (which only `tandem server` on loopback sets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env |= {
        "TANDEM_HOME": str(settings.home),
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_ARTIFACTS": settings.artifacts,
        "TANDEM_RESIDENT": "0",
        "PYTHONPATH": str(SRC),
    }
    if told_open:
        env["TANDEM_OPEN"] = "1"
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tandem.server.main:app", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--log-level", "warning"],
        env=env,
        cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}{API}/health", timeout=120)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        me = get(f"{url}{API}/me")
        created = post(f"{url}{API}/projects", json={"name": "vision"})
    finally:
        server.terminate()
        server.wait(30)
    if told_open:
        assert me.status_code == 200 and created.status_code == 201
    else:
        assert me.status_code == 401 and created.status_code == 401


# -- Host and Origin ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", ""])
def test_a_foreign_host_is_misdirected(open_url: str, small: Services, host: str) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends its own
    name as Host. Nothing is read or written."""
    answer = post(
        f"{open_url}{API}/projects/churn/runs", json={"name": "rebound"}, headers={"Host": host}
    )
    assert answer.status_code == 421
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "misdirected-request"
    assert isinstance(errors.from_problem(answer.json()), errors.MisdirectedRequest)
    assert runs_in(small) == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1", "127.0.0.1", "[::1]:8765"])
def test_loopback_names_are_served(open_url: str, host: str) -> None:
    assert get(f"{open_url}{API}/me", headers={"Host": host}).status_code == 200


def test_allowed_hosts_add_names(settings: Settings, serve) -> None:
    services = Services.build(settings.with_(allowed_hosts=("tandem.example",)))
    try:
        with serve(create_app(services=services, allow_open=True)) as url:
            named = get(f"{url}{API}/health", headers={"Host": "tandem.example:8765"})
            other = get(f"{url}{API}/health", headers={"Host": "other.example"})
        assert named.status_code == 200 and other.status_code == 421
        anything = Services.build(settings.with_(allowed_hosts=("*",)))
        try:
            with serve(create_app(services=anything)) as url:
                answer = get(f"{url}{API}/health", headers={"Host": "other.example"})
            assert answer.status_code == 200
        finally:
            anything.close()
    finally:
        services.close()


def test_settings_read_the_allowed_hosts_and_limits() -> None:
    env = {
        "TANDEM_HOME": "/tmp/x",
        "TANDEM_ALLOWED_HOSTS": " Tandem.Example, ,10.0.0.5 ",
        "TANDEM_MAX_BODY_BYTES": "1000",
        "TANDEM_MAX_UPLOAD_BYTES": "2000",
    }
    loaded = Settings.load(env)
    assert loaded.allowed_hosts == ("tandem.example", "10.0.0.5")
    assert (loaded.max_body_bytes, loaded.max_upload_bytes) == (1000, 2000)
    defaults = Settings.load({"TANDEM_HOME": "/tmp/x"})
    assert (defaults.max_body_bytes, defaults.max_upload_bytes) == (16 * 2**20, 10 * 2**30)
    with pytest.raises(errors.InvalidInput, match="TANDEM_MAX_BODY_BYTES"):
        Settings.load(env | {"TANDEM_MAX_BODY_BYTES": "lots"})


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_open_mode_refuses_other_origins(open_url: str, small: Services, origin: str) -> None:
    """A page of another site may post to loopback without a preflight; open mode answers pages
    of its own origin only."""
    answer = post(
        f"{open_url}{API}/projects/churn/runs", json={"name": "x"}, headers={"Origin": origin}
    )
    assert answer.status_code == 403 and answer.json()["code"] == "permission-denied"
    assert "cross-origin" in answer.json()["detail"]
    assert runs_in(small) == 0


def test_open_mode_serves_its_own_origin(open_url: str) -> None:
    answer = post(
        f"{open_url}{API}/projects/churn/runs", json={"name": "x"}, headers={"Origin": open_url}
    )
    assert answer.status_code == 201


# -- content types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
@pytest.mark.parametrize("path", ["/projects/churn/runs", "/projects"])
def test_json_routes_refuse_other_content_types(
    open_url: str, small: Services, content_type: str | None, path: str
) -> None:
    """What a page of any site may send without asking first (no CORS preflight): refused
    before it is read, and nothing is written. A hot route and an ordinary one."""
    headers = {"Content-Type": content_type} if content_type else {}
    body = orjson.dumps({"name": "sneaky"})
    with httpx.Client(timeout=120) as http:
        built = http.build_request("POST", f"{open_url}{API}{path}", content=body, headers=headers)
        assert content_type or "content-type" not in built.headers
        answer = http.send(built)
    assert answer.status_code == 415, answer.text
    assert answer.json()["code"] == "unsupported-media-type"
    assert isinstance(errors.from_problem(answer.json()), errors.UnsupportedMediaType)
    assert runs_in(small) == 0
    assert [p.name for p in small.projects.list(small.owner).items] == ["churn"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
def test_json_in_any_spelling_is_accepted(open_url: str, content_type: str) -> None:
    body = orjson.dumps({"name": "fine"})
    answer = post(
        f"{open_url}{API}/projects/churn/runs",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert answer.status_code == 201
    made = post(
        f"{open_url}{API}/projects",
        content=orjson.dumps({"name": "more"}),
        headers={"Content-Type": content_type},
    )
    assert made.status_code == 201


def test_raw_uploads_and_bodiless_posts_need_no_json(open_url: str, small: Services) -> None:
    run = run_in(small)
    upload = put(
        f"{open_url}{API}/runs/{run}/artifacts/model.bin",
        content=b"weights",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 201
    small.tracking.delete_run(small.owner, run)
    assert post(f"{open_url}{API}/runs/{run}/restore").status_code == 200


# -- body limits ----------------------------------------------------------------------------


def raw_exchange(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send a request's head (and a little body) over a raw socket and read the answer: the
    server must answer without waiting for the rest of the body it was promised."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), orjson.loads(payload)


def _complete(answer: bytes) -> bool:
    head, _, payload = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(payload) >= int(value)
    return False


@pytest.mark.parametrize(
    ("method", "target", "length"),
    [
        ("POST", "/projects/churn/runs", 4097),  # a JSON body over 4 KiB
        ("POST", "/projects", 60 * 2**30),
        ("PUT", "/runs/{run}/artifacts/big.bin", 64 * 1024 + 1),  # an upload over 64 KiB
        ("PUT", "/runs/{run}/artifacts/big.bin", 60 * 2**30),
    ],
)
def test_a_declared_length_over_the_limit_is_refused_before_reading(
    open_url: str, small: Services, method: str, target: str, length: int
) -> None:
    run = run_in(small)
    path = API + target.format(run=run)
    port = open_url.rsplit(":", 1)[1]
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
    )
    status, problem = raw_exchange(open_url, head, b"{")
    assert status == 413
    assert problem["code"] == "payload-too-large"
    assert isinstance(errors.from_problem(problem), errors.PayloadTooLarge)
    assert small.tracking.list_artifacts(small.owner, run, "") == []


def test_uploads_may_be_larger_than_json_bodies(open_url: str, small: Services) -> None:
    run = run_in(small)
    data = os.urandom(32 * 1024)  # over the 4 KiB body limit, under the 64 KiB upload limit
    answer = put(f"{open_url}{API}/runs/{run}/artifacts/ok.bin", content=data)
    assert answer.status_code == 201 and answer.json()["size"] == len(data)


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize(
    ("method", "target", "total"),
    [("POST", "/runs/{run}/batch", 8192), ("PUT", "/runs/{run}/artifacts/c.bin", 128 * 1024)],
)
def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(
    open_url: str, small: Services, method: str, target: str, total: int
) -> None:
    run = run_in(small)
    headers = {"Content-Type": "application/json"}
    answer = request(
        method, open_url + API + target.format(run=run), content=chunks(total), headers=headers
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "payload-too-large"
    assert small.tracking.list_artifacts(small.owner, run, "") == []
    assert not list((small.settings.home / "tmp").glob("upload-*"))


def test_a_chunked_body_within_the_limit_is_served(open_url: str, small: Services) -> None:
    run = run_in(small)
    body = orjson.dumps({"params": {"lr": 0.1}})
    answer = post(
        f"{open_url}{API}/runs/{run}/batch",
        content=iter([body[:5], body[5:]]),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert small.tracking.get_run(small.owner, run).params == {"lr": "0.1"}


def test_the_sdk_raises_payload_too_large(open_url: str, small: Services, settings) -> None:
    run = run_in(small)
    with Client(open_url, settings=settings) as sdk, pytest.raises(errors.PayloadTooLarge):
        sdk.runs.log_batch(run, tags={"note": "x" * 5000})


# -- params and tags per batch --------------------------------------------------------------


@pytest.mark.parametrize("field", ["params", "tags"])
def test_more_than_100_params_or_tags_in_a_batch_are_refused(
    api: TestClient, services: Services, field: str
) -> None:
    services.projects.create(services.owner, ProjectCreate(name="churn"))
    run = run_in(services)
    body = {field: {f"k{i}": "v" for i in range(101)}}
    answer = api.post(f"{API}/runs/{run}/batch", json=body)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-input"
    assert "at most 100" in answer.json()["detail"]
    created = api.post(f"{API}/projects/churn/runs", json=body)
    assert created.status_code == 422
    stored = services.tracking.get_run(services.owner, run)
    assert stored.params == {} and stored.tags == {}
    assert runs_in(services) == 1
    fine = api.post(f"{API}/runs/{run}/batch", json={field: {f"k{i}": "v" for i in range(100)}})
    assert fine.status_code == 200


def test_the_sdk_splits_many_params_and_tags(open_url: str, small: Services, settings) -> None:
    many = {f"s{i}": str(i) for i in range(150)}
    with Client(open_url, settings=settings) as sdk:
        with sdk.start_run("churn", params=many, tags=many) as run:
            run.log_params({f"p{i}": i for i in range(250)})
            run.set_tags({f"t{i}": str(i) for i in range(250)})
            run_id = run.id
        with sdk.start_run("churn", params=many, tags=many) as again:  # created with its batch
            again_id = again.id
    for stored in (small.tracking.get_run(small.owner, r) for r in (run_id, again_id)):
        assert many.items() <= stored.params.items() and many.items() <= stored.tags.items()
    stored = small.tracking.get_run(small.owner, run_id)
    assert (
        len(stored.params) == 400
        and len([t for t in stored.tags if t[0] == "t" and t[1:].isdigit()]) == 250
    )


# -- clients that go away -------------------------------------------------------------------


def test_a_client_gone_mid_upload_is_one_log_line(
    open_url: str, small: Services, caplog: pytest.LogCaptureFixture
) -> None:
    run = run_in(small)
    port = open_url.rsplit(":", 1)[1]
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", int(port)), timeout=30) as sock:
        head = (
            f"PUT {API}/runs/{run}/artifacts/half.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 60000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"x" * 20000)
    deadline = time.monotonic() + 120  # the server logs the disconnect, or a traceback
    while not any("disconnected" in r.getMessage() or r.exc_info for r in caplog.records):
        assert time.monotonic() < deadline, "the server logged nothing"
        time.sleep(0.05)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    gone = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(gone) == 1 and "half.bin" in gone[0].getMessage()
    assert small.tracking.list_artifacts(small.owner, run, "") == []
    assert not list((small.settings.home / "tmp").glob("upload-*"))
