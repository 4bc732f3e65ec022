"""Single sign-on against a real OpenID Connect provider (node-oidc-provider, OpenID certified,
run with Node.js on loopback; its development sign-in page accepts any user name)."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.identity.models import UserCreate
from tandem.server.app import create_app
from tandem.server.container import Services

PROVIDER = Path(__file__).parent / "provider"
CLIENT_ID, CLIENT_SECRET = "tandem-test", "test-client-secret"

# Under xdist these run on one worker: one provider (a Node.js process) for all of them.
pytestmark = pytest.mark.xdist_group("oidc")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def tandem_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(tandem_port: int) -> Iterator[Provider]:
    node = shutil.which("node")
    assert node, "the OIDC tests need Node.js (apt-get install nodejs npm)"
    assert (PROVIDER / "node_modules" / "oidc-provider").is_dir(), (
        "the OIDC provider's packages are not installed: scripts/test and .ci/run install them"
        f" (cd {PROVIDER} && npm ci)"
    )
    port = free_port()
    redirect = f"http://127.0.0.1:{tandem_port}/login/oidc/callback"
    process = subprocess.Popen(
        [node, "server.js", str(port), CLIENT_ID, CLIENT_SECRET, redirect],
        cwd=PROVIDER,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("ready "), f"the OIDC provider did not start: {line!r}"
    yield Provider(line.split()[1], process)
    process.terminate()
    process.wait(10)
    process.stdout.close()


@pytest.fixture
def sso(
    provider: Provider, tandem_port: int, settings: Settings, serve: Any, request: Any
) -> Iterator[tuple[str, Services]]:
    oidc = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    oidc |= getattr(request, "param", {})
    # The provider runs on loopback: a local IdP is allowed explicitly (the outbound policy)
    allow = (provider.issuer.split("/")[2],)
    services = Services.build(replace(settings, oidc=oidc, outbound_allow_hosts=allow))
    services.identity.create_user(services.owner, UserCreate(name="alice", role=Role.ADMIN))
    with serve(create_app(services=services, allow_open=True), port=tandem_port) as url:
        yield url, services
    services.close()


@contextlib.contextmanager
def sign_in(
    url: str, user: str, next_path: str = "/projects"
) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """Walk the browser's path: tandem -> provider sign-in and consent -> tandem callback."""
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        yield browser, _walk(browser, url, user, next_path)


def _walk(browser: httpx.Client, url: str, user: str, next_path: str) -> httpx.Response:
    page = browser.get(f"{url}/login/oidc", params={"next": next_path})
    for _ in range(4):  # sign-in form, then the consent form, then back to tandem
        action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        if (page.url.host == "127.0.0.1" and str(page.url).startswith(url)) or action is None:
            break
        prompt = re.search(r'name="prompt" value="(\w+)"', page.text)
        assert prompt is not None, page.text[:500]
        data = {"prompt": prompt.group(1)}
        if prompt.group(1) == "login":
            data |= {"login": user, "password": "anything"}
        page = browser.post(httpx.URL(str(page.url)).join(action.group(1)), data=data)
    return page


def test_an_existing_user_signs_in_with_the_provider(sso: tuple[str, Services]) -> None:
    url, services = sso
    with sign_in(url, "alice") as (browser, page):
        session = browser.cookies.get("tandem_session")
    assert str(page.url).startswith(f"{url}/projects"), page.text
    assert session
    me = httpx.get(f"{url}/api/v1/me", cookies={"tandem_session": session}).json()
    assert me["name"] == "alice" and me["via"] == "session" and me["is_admin"]
    logins = services.audit.list(services.owner, action="auth.login").items
    assert logins[0].actor == "alice" and logins[0].details["method"] == "single sign-on"


def test_an_unknown_user_is_refused_by_default(sso: tuple[str, Services]) -> None:
    url, services = sso
    with sign_in(url, "mallory") as (browser, page):
        assert page.status_code == 401 and "mallory is not a tandem user here" in page.text
        assert browser.cookies.get("tandem_session") is None
    assert services.audit.list(services.owner, outcome="failed").items[0].target == "mallory"


@pytest.mark.parametrize("sso", [{"create_users": "viewer"}], indirect=True)
def test_new_users_can_be_created_on_first_sign_in(sso: tuple[str, Services]) -> None:
    url, services = sso
    with sign_in(url, "newbie"):
        pass
    user = services.identity.get_user(services.owner, "newbie")
    assert user.role is Role.VIEWER and user.email == "newbie@example.test"


def test_a_forged_or_replayed_callback_is_refused(sso: tuple[str, Services]) -> None:
    url, _ = sso
    bare = httpx.get(f"{url}/login/oidc/callback", params={"code": "x", "state": "y"})
    assert bare.status_code == 401 and "not started here" in bare.text
    with httpx.Client(timeout=10) as browser:
        browser.get(f"{url}/login/oidc")  # a real pending sign-in, then a callback not its own
        forged = browser.get(f"{url}/login/oidc/callback", params={"code": "x", "state": "y"})
        assert forged.status_code == 401 and browser.cookies.get("tandem_session") is None


def test_next_never_leaves_the_server(sso: tuple[str, Services]) -> None:
    url, _ = sso
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        with sign_in(url, "alice", target) as (_, page):
            assert str(page.url).startswith(url)


def test_sso_is_refused_when_not_configured(api: Any) -> None:
    assert api.get("/login/oidc").status_code == 404
