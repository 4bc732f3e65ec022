"""The web UI over HTTP: sign-in, CSRF, who sees what, artifact previews and escaping."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from markupsafe import escape
from starlette.testclient import TestClient
from web_world import PASSWORD, XSS, World, csrf_of, sign_in

from tandem.core.auth import Role
from tandem.identity.models import TokenCreate
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.tracking.models import RunCreate
from tandem.web.render import CSP

# What a loopback caller looks like to the app (TestClient's own peer and Host are neither).
LOOPBACK = "http://127.0.0.1"
PEER = ("127.0.0.1", 50000)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def denials(services: Services, path: str) -> list[str]:
    events = services.audit.list(services.owner, outcome="denied").items
    return [e.action for e in events if e.target == path]


@pytest.fixture
def web(world: World, api: TestClient) -> TestClient:
    return api


# -- signing in --------------------------------------------------------------------------------


def test_sign_in_sets_an_http_only_session_cookie(web: TestClient) -> None:
    page = web.get("/login")
    response = web.post(
        "/login",
        data={
            "name": "ada",
            "password": PASSWORD,
            "next": "/projects/vision",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/vision"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tandem_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert web.get("/projects/vision").status_code == 200


def test_wrong_password_is_401_with_a_clear_message(web: TestClient) -> None:
    page = web.get("/login")
    response = web.post(
        "/login",
        data={"name": "ada", "password": "not the password", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "wrong user name or password" in response.text
    assert "tandem_session" not in response.headers.get("set-cookie", "")


def test_sign_in_is_rate_limited_after_five_failures(web: TestClient) -> None:
    token = csrf_of(web.get("/login").text)
    for _ in range(5):
        bad = web.post("/login", data={"name": "vic", "password": "x" * 12, "csrf_token": token})
        assert bad.status_code == 401
    limited = web.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": token})
    assert limited.status_code == 429
    assert "too many failed sign-ins" in limited.text


def test_sign_in_form_needs_its_double_submit_token(web: TestClient, world: World) -> None:
    web.get("/login")
    response = web.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "x"})
    assert response.status_code == 403
    assert "tandem_session" not in response.headers.get("set-cookie", "")
    assert denials(world.services, "/login") == ["access.denied"]


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_next_never_leaves_the_site(web: TestClient, target: str) -> None:
    page = web.get("/login", params={"next": target})
    assert 'name="next" value="/"' in page.text
    response = web.post(
        "/login",
        data={
            "name": "ada",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_anonymous_page_view_is_sent_to_sign_in(web: TestClient) -> None:
    response = web.get("/projects/vision?filter=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fprojects%2Fvision%3Ffilter%3Dx"


def test_sign_out_ends_the_session(web: TestClient) -> None:
    sign_in(web, "ada")
    token = csrf_of(web.get("/").text)
    response = web.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert web.get("/", follow_redirects=False).status_code == 303


# -- CSRF: refused, nothing changed, audited -----------------------------------------------------


def test_csrf_less_posts_are_refused_and_audited(web: TestClient, world: World) -> None:
    services = world.services
    sign_in(web, "ada")
    posts = {
        "/logout": {},
        "/projects/vision/members": {"user": "olga", "role": "viewer"},
        "/projects/vision/members/vic/remove": {},
        "/account/tokens": {"name": "stolen"},
        "/account/password": {
            "current_password": PASSWORD,
            "new_password": "n" * 16,
            "confirm_password": "n" * 16,
        },
    }
    for path, data in posts.items():
        for sent in ({}, {"csrf_token": "wrong"}):
            response = web.post(path, data={**data, **sent}, follow_redirects=False)
            assert response.status_code == 403, path
            assert "CSRF" in response.text
        assert denials(services, path) == ["access.denied"] * 2, path
    members = {m.user: m.role for m in services.identity.list_members(services.owner, "vision")}
    assert "olga" not in members and members["vic"] is Role.VIEWER
    assert services.identity.list_tokens(services.owner, "ada") == []
    assert web.get("/account").status_code == 200  # still signed in, same password
    services.identity.login("ada", PASSWORD, "test")


# -- who sees what -----------------------------------------------------------------------------


def test_projects_list_shows_only_projects_you_belong_to(web: TestClient) -> None:
    sign_in(web, "vic")
    page = web.get("/")
    assert "/projects/vision" in page.text
    assert "audio" not in page.text


def test_another_projects_page_is_not_found_and_audited(web: TestClient, world: World) -> None:
    sign_in(web, "vic")
    for path in (
        "/projects/audio",
        f"/projects/audio/runs/{world.runs['audio']}",
        "/projects/audio/members",
        f"/projects/vision/runs/{world.runs['audio']}",
    ):
        response = web.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "audio-secret" not in response.text
    assert denials(world.services, "/projects/audio") == ["access.denied"]


def test_viewer_cannot_change_members(web: TestClient, world: World) -> None:
    sign_in(web, "vic")
    page = web.get("/projects/vision/members")
    assert page.status_code == 200
    assert 'action="/projects/vision/members"' not in page.text  # no forms for a viewer
    token = csrf_of(page.text)
    response = web.post(
        "/projects/vision/members", data={"user": "vic", "role": "admin", "csrf_token": token}
    )
    assert response.status_code == 403  # vic may see the project: refused, not hidden
    members = {
        m.user: m.role for m in world.services.identity.list_members(world.services.owner, "vision")
    }
    assert members["vic"] is Role.VIEWER
    assert denials(world.services, "/projects/vision/members") == ["access.denied"]


def test_admin_manages_members(web: TestClient, world: World) -> None:
    sign_in(web, "ada")
    token = csrf_of(web.get("/projects/vision/members").text)
    added = web.post(
        "/projects/vision/members", data={"user": "olga", "role": "viewer", "csrf_token": token}
    )
    assert added.status_code == 200 and "Member saved." in added.text
    assert "olga" in added.text
    unknown = web.post("/projects/vision/members", data={"user": "nobody", "csrf_token": token})
    assert unknown.status_code == 404 and "nobody" in unknown.text
    removed = web.post("/projects/vision/members/olga/remove", data={"csrf_token": token})
    assert removed.status_code == 200 and "Member removed." in removed.text


def test_audit_pages(web: TestClient, world: World) -> None:
    sign_in(web, "carl")
    page = web.get("/projects/vision/audit", params={"since": "7d", "action": "member."})
    assert page.status_code == 200 and "member.set" in page.text
    assert web.get("/projects/vision/audit", params={"since": "soon"}).status_code == 422
    assert web.get("/audit").status_code == 403  # the workspace log is for admins
    web.cookies.clear()
    sign_in(web, "root")
    page = web.get("/audit", params={"outcome": "denied"})
    assert page.status_code == 200 and "/audit" in page.text and 'href="/audit"' in page.text


def test_account_tokens_and_password(web: TestClient, world: World) -> None:
    sign_in(web, "ada")
    token = csrf_of(web.get("/account").text)
    created = web.post("/account/tokens", data={"name": "laptop", "csrf_token": token})
    assert created.status_code == 201
    [made] = world.services.identity.list_tokens(world.services.owner, "ada")
    assert "tdm_" in created.text and made.id in created.text
    assert "tdm_" not in web.get("/account").text  # the secret is shown once
    revoked = web.post(f"/account/tokens/{made.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 200 and "Token revoked." in revoked.text
    wrong = web.post(
        "/account/password",
        data={
            "current_password": "nope" * 4,
            "new_password": "n" * 16,
            "confirm_password": "n" * 16,
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    changed = web.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "n" * 16,
            "confirm_password": "n" * 16,
            "csrf_token": token,
        },
    )
    assert changed.status_code == 200 and "Password changed" in changed.text
    world.services.identity.login("ada", "n" * 16, "test")


def test_someone_elses_token_cannot_be_revoked(web: TestClient, world: World) -> None:
    theirs = world.services.identity.create_token(
        world.services.owner, TokenCreate(name="t", user="ada")
    )
    sign_in(web, "vic")
    token = csrf_of(web.get("/account").text)
    response = web.post(f"/account/tokens/{theirs.token.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    [still] = world.services.identity.list_tokens(world.services.owner, "ada")
    assert still.revoked_at is None


# -- pages ---------------------------------------------------------------------------------------


def test_pages_carry_the_security_headers(web: TestClient, world: World) -> None:
    sign_in(web, "ada")
    vit = world.runs["vit"]
    for path in (
        "/",
        "/login",
        "/projects/vision",
        "/projects/vision/runs",
        f"/projects/vision/runs/{vit}",
        f"/projects/vision/compare?runs={vit},{world.runs['resnet']}",
        "/projects/vision/members",
        "/projects/vision/audit",
        "/account",
        "/nowhere",
    ):
        response = web.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in response.text and " onclick=" not in response.text


def test_rest_errors_stay_problem_json(web: TestClient) -> None:
    response = web.get("/api/v1/projects/nope")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert web.get("/api/v1/nowhere").headers["content-type"] == "application/problem+json"


def test_runs_table_filter_order_columns_and_pages(web: TestClient, world: World) -> None:
    services = world.services
    for i in range(60):
        services.tracking.create_run(
            services.owner, "vision", RunCreate(name=f"bulk-{i:02d}", params={"i": i})
        )
    sign_in(web, "vic")
    page = web.get(
        "/projects/vision/runs",
        params={"filter": "params.model = 'vit'", "columns": "metrics.auc,params.model"},
    )
    assert "vit-run" in page.text and "resnet-run" not in page.text
    assert ">metrics.auc" in page.text and ">params.lr" not in page.text
    ordered = web.get(
        "/projects/vision/runs", params={"order": "metrics.auc desc", "filter": "metrics.auc > 0"}
    ).text
    assert ordered.index("vit-run") < ordered.index("resnet-run")
    bad = web.get("/projects/vision/runs", params={"filter": "metrics.auc >> 1"})
    assert bad.status_code == 422
    assert 'class="caret"' in bad.text and "^" in bad.text
    first = web.get("/projects/vision/runs")
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    next_href = html.unescape(first.text.split('rel="next" href="')[1].split('"')[0])
    second = web.get("/projects/vision/runs" + next_href)
    assert 'rel="prev"' in second.text
    prev_href = html.unescape(second.text.split('rel="prev" href="')[1].split('"')[0])
    assert web.get("/projects/vision/runs" + prev_href).text.count("<tr>") == first.text.count(
        "<tr>"
    )


def test_compare_page(web: TestClient, world: World) -> None:
    sign_in(web, "vic")
    ids = [world.runs["resnet"], world.runs["vit"]]
    picked = web.get(
        "/projects/vision/compare", params=[("run", i) for i in ids], follow_redirects=False
    )
    assert picked.status_code == 303
    page = web.get(picked.headers["location"])
    assert page.status_code == 200
    assert 'class="differs"><th scope="row">model' in page.text
    assert "params are the same" not in page.text or "lr" in page.text
    assert 'data-key="auc"' in page.text and 'data-key="loss"' in page.text
    assert web.get("/projects/vision/compare", params={"runs": ids[0]}).status_code == 422
    hidden = web.get("/projects/vision/compare", params={"runs": f"{ids[0]},{world.runs['audio']}"})
    assert hidden.status_code == 404


# -- artifacts and escaping ----------------------------------------------------------------------


def _upload(services: Services, run_id: str, path: str, data: bytes, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    services.tracking.upload_artifact(services.owner, run_id, path, source)


def test_previews_only_raster_images_inline(web: TestClient, world: World, tmp_path: Path) -> None:
    run = world.runs["vit"]
    files = {
        "plot.png": PNG,
        "evil.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "evil.png": b"<html><script>alert(1)</script></html>",  # a name is not a type
        "page.html": b"<html><body onload=alert(1)>hi</body></html>",
    }
    for path, data in files.items():
        _upload(world.services, run, path, data, tmp_path)
    sign_in(web, "vic")
    base = f"/projects/vision/runs/{run}/preview/"
    image = web.get(base + "plot.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["content-security-policy"] == "default-src 'none'"
    assert image.content == PNG
    for path in ("evil.svg", "evil.png", "page.html"):
        refused = web.get(base + path)
        assert refused.status_code == 415, path
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.headers["content-security-policy"] == "default-src 'none'"
        assert b"<script>" not in refused.content
    shown = web.get(f"/projects/vision/runs/{run}", params={"preview": "evil.svg"})
    assert "&lt;svg" in shown.text and "<svg" not in shown.text
    assert web.get(f"/projects/audio/runs/{world.runs['audio']}/preview/x.png").status_code == 404


def test_payloads_are_escaped_everywhere(web: TestClient, world: World, tmp_path: Path) -> None:
    services = world.services
    run = services.tracking.create_run(
        services.owner,
        "vision",
        RunCreate(name=XSS, params={"model": XSS}, tags={"note": XSS}),  # keys cannot hold <>
    )
    _upload(services, run.id, f"{XSS}.txt", XSS.encode(), tmp_path)
    sign_in(web, "ada")
    pages = [
        "/projects/vision",
        f"/projects/vision/runs?columns=params.{XSS}",
        f"/projects/vision/runs/{run.id}",
        f"/projects/vision/runs/{run.id}?preview={XSS}.txt",
        f"/projects/vision/compare?runs={run.id},{world.runs['vit']}",
        f"/projects/vision/runs?filter={XSS}",
        "/projects/vision/audit",
        f"/login?next=/{XSS}",
    ]
    for path in pages:
        text = web.get(path).text
        assert "<script>window" not in text, path
        assert "<img src=x" not in text, path
        assert 'onerror="window' not in text, path
    run_page = web.get(f"/projects/vision/runs/{run.id}", params={"preview": f"{XSS}.txt"}).text
    assert run_page.count(str(escape(XSS))) >= 4  # name, param, tag, artifact path, contents


def test_open_workspace_needs_no_sign_in(services: Services) -> None:
    """A loopback server with no users: every page works, and there is nothing to sign out of."""
    from tandem.projects.models import ProjectCreate

    services.projects.create(services.owner, ProjectCreate(name="solo"))
    with TestClient(
        create_app(services=services, allow_open=True), base_url=LOOPBACK, client=PEER
    ) as client:
        home = client.get("/")
        assert home.status_code == 200 and "/projects/solo" in home.text
        assert "Sign out" not in home.text
        assert client.get("/projects/solo").status_code == 200
        assert client.get("/account").status_code == 200
        members = client.get("/projects/solo/members")
        token = csrf_of(members.text)
        refused = client.post("/projects/solo/members", data={"user": "x", "csrf_token": "bad"})
        assert refused.status_code == 403
        assert token  # an open workspace's forms carry the double-submit token


def test_member_set_is_allowed_for_owner_in_open_workspace(services: Services) -> None:
    """The members page of an open workspace shows the forms (the owner may do anything)."""
    from tandem.projects.models import ProjectCreate

    services.projects.create(services.owner, ProjectCreate(name="solo"))
    with TestClient(
        create_app(services=services, allow_open=True), base_url=LOOPBACK, client=PEER
    ) as client:
        page = client.get("/projects/solo/members")
        assert 'action="/projects/solo/members"' in page.text
