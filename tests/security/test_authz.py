"""Issue 20, authorisation and identity: the permission is asked before any rule or state (a
viewer asking to gate a draft to production is refused, not told the move is illegal);
passwords that are the user name or common are refused; sign-in lockout counts per name and
source address; token lifetimes in hours and minutes are kept to the minute asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tandem.cli import output
from tandem.cli.main import app as cli_app
from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.registry.models import VersionCreate
from tandem.server import embedded
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.tracking.models import RunCreate

GOOD = "a long and rather unusual passphrase"
FORM = "authz-form-token"


def _token(
    services: Services, user: str, role: Role | None = None, workspace_role: Role = Role.VIEWER
) -> str:
    """A new user's API token; with `role`, the user is that in project `churn`."""
    owner = services.owner
    services.identity.create_user(owner, UserCreate(name=user, role=workspace_role))
    if role is not None:
        services.identity.set_member(owner, "churn", MemberSet(user=user, role=role))
    return services.identity.create_token(owner, TokenCreate(name="t", user=user)).secret


@pytest.fixture
def churn(services: Services, tmp_path: Path) -> Services:
    """Project `churn` with model `churn`, version 1 in draft."""
    owner, tracking = services.owner, services.tracking
    services.projects.create(owner, ProjectCreate(name="churn"))
    run = tracking.create_run(owner, "churn", RunCreate(name="train")).id
    model_file = tmp_path / "model.txt"
    model_file.write_text("weights")
    meta = tmp_path / "tandem-model.json"
    meta.write_text(
        '{"flavor": "sklearn", "format": "skops", "trusted": false, "files": ["m.txt"]}'
    )
    tracking.upload_artifact(owner, run, "model/m.txt", model_file)
    tracking.upload_artifact(owner, run, "model/tandem-model.json", meta)
    body = VersionCreate(run_id=run, artifact_path="model")
    services.registry.register(owner, "churn", "churn", body)
    return services


# -- permission before state -------------------------------------------------------------------


def test_a_viewer_asking_to_gate_a_draft_to_production_is_refused(
    churn: Services, serve: Any
) -> None:
    """The reported case, over HTTP on loopback: the refusal, not the stage rule, answers."""
    services = churn
    viewer = _token(services, "vera", Role.VIEWER)
    builder = _token(services, "dan", Role.DATA_SCIENTIST)
    outsider = _token(services, "olga")
    body = {"model": "churn@1", "to": "production"}
    with serve(create_app(services=services, allow_open=False)) as url:
        gates = f"{url}/api/v1/projects/churn/gates"
        refused = httpx.post(gates, json=body, headers=_bearer(viewer))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "permission-denied"
        assert "vera may not model:write" in refused.json()["detail"]
        hidden = httpx.post(gates, json=body, headers=_bearer(outsider))
        assert hidden.status_code == 404 and "churn" in hidden.json()["detail"]
        assert httpx.post(gates, json=body).status_code == 401
        # someone who may open gates is told about the rule, and only they
        allowed = httpx.post(gates, json=body, headers=_bearer(builder))
        assert allowed.status_code == 409 and "is draft" in allowed.json()["detail"]
        # nothing was created by any of them
        listed = httpx.get(gates, params={"status": "open"}, headers=_bearer(builder))
        assert listed.status_code == 200 and listed.json() == []
    events = services.audit.list(services.owner, project="churn", action="gate.open").items
    assert events == []


def test_refusals_outrank_bad_input(churn: Services) -> None:
    """A body that breaks a rule still gets the refusal first, from every kind of service."""
    services = churn
    viewer = _token(services, "vera", Role.VIEWER)
    run = services.tracking.search_runs(services.owner, _search()).items[0].id
    bad = [
        ("POST", "/api/v1/projects/churn/gates", {"model": "churn@nope!", "to": "production"}),
        (
            "PUT",
            "/api/v1/projects/churn/criteria/auc",
            {"kind": "model", "metric": "x", "comparator": "~", "threshold": 1, "owner": "nobody"},
        ),
        ("PUT", "/api/v1/projects/churn/models/churn/aliases/Bad%20Alias", {"version": 9}),
        (
            "POST",
            "/api/v1/projects/churn/models/Bad%20Name/versions",
            {"run_id": run, "artifact_path": "../x"},
        ),
        (
            "POST",
            "/api/v1/projects/churn/evaluations",
            {"model": "churn@1", "dataset": "d@v1", "target": "y", "report": {"task": "?"}},
        ),
        ("PUT", "/api/v1/projects/churn/datasets/d/contract", {"text": "not: [a contract"}),
        ("POST", f"/api/v1/runs/{run}/batch", {"params": {"../x": "1"}}),
        (
            "POST",
            "/api/v1/projects/churn/hypotheses",
            {"statement": "s", "owner": "pm", "links": ["nowhere://x"]},
        ),
    ]
    with TestClient(
        create_app(services=services, allow_open=False), base_url="http://127.0.0.1"
    ) as client:
        for method, path, body in bad:
            response = client.request(method, path, json=body, headers=_bearer(viewer))
            assert response.status_code == 403, f"{method} {path}: {response.text}"


# -- passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("margaret", "margaret", "made of the user name"),
        ("margaretha", "MargarethA", "made of the user name"),  # 10 characters: too short too
        ("margaretha12", "margaretha12", "made of the user name"),
        ("margaretha12", "Margaretha12!", "made of the user name"),
        ("margaret", "password1234", "common passwords"),
        ("margaret", "Qwerty123456", "common passwords"),
    ],
)
def test_weak_passwords_are_refused_over_rest(
    services: Services, name: str, password: str, message: str
) -> None:
    admin = _token(services, "root", workspace_role=Role.ADMIN)
    with TestClient(
        create_app(services=services, allow_open=False), base_url="http://127.0.0.1"
    ) as client:
        made = client.post(
            "/api/v1/users", json={"name": name, "password": password}, headers=_bearer(admin)
        )
        if len(password) >= 12:
            assert made.status_code == 422, made.text
            assert message in made.json()["detail"]
        else:
            assert made.status_code == 422 and "12 to 1024" in made.json()["detail"]
        assert client.get(f"/api/v1/users/{name}", headers=_bearer(admin)).status_code == 404
        # the same rules when a user changes their own password
        client.post("/api/v1/users", json={"name": name, "password": GOOD}, headers=_bearer(admin))
        token = services.identity.create_token(
            services.owner, TokenCreate(name="t", user=name)
        ).secret
        change = {"current_password": GOOD, "new_password": password}
        changed = client.post("/api/v1/me/password", json=change, headers=_bearer(token))
        assert changed.status_code == 422, changed.text
    services.identity.login(name, GOOD, "127.0.0.1")  # unchanged


def test_a_good_password_is_taken(services: Services) -> None:
    services.identity.create_user(services.owner, UserCreate(name="kim", password=GOOD))
    services.identity.login("kim", GOOD, "127.0.0.1")


@pytest.fixture
def tandem(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tandem(*args, input=...)`: the CLI in process on the test's workspace."""
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("COLUMNS", "250")
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(cli_app, list(args), input=input)

    yield run
    output.reset_client()
    embedded.close_all()


def test_weak_passwords_are_refused_by_the_cli(tandem: Any) -> None:
    for password, message in (("margaret1234", "user name"), ("password1234", "common")):
        result = tandem("users", "create", "margaret", "--password-stdin", input=password + "\n")
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    listed = tandem("users", "list", "--json")
    assert "margaret" not in listed.stdout
    made = tandem("users", "create", "margaret", "--password-stdin", input=GOOD + "\n")
    assert made.exit_code == 0, made.stderr


def test_the_cli_refuses_a_weak_new_password(
    tandem: Any, services: Services, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.identity.create_user(services.owner, UserCreate(name="amy", password=GOOD))
    token = services.identity.create_token(services.owner, TokenCreate(name="t", user="amy"))
    with serve(create_app(services=services, allow_open=False)) as url:
        monkeypatch.setenv("TANDEM_URL", url)
        monkeypatch.setenv("TANDEM_TOKEN", token.secret)
        output.reset_client()
        weak = tandem("users", "password", "--stdin", input=f"{GOOD}\namy-amy-amy-amy\n")
        assert weak.exit_code == 2
        assert len(weak.stderr.strip().splitlines()) == 1, weak.stderr
        assert "user name" in weak.stderr
        common = tandem("users", "password", "--stdin", input=f"{GOOD}\npassword1234\n")
        assert common.exit_code == 2 and "common" in common.stderr
        good = tandem("users", "password", "--stdin", input=f"{GOOD}\n{GOOD} too\n")
        assert good.exit_code == 0, good.stderr
    services.identity.login("amy", GOOD + " too", "127.0.0.1")


# -- sign-in lockout -----------------------------------------------------------------------------


def test_failed_sign_ins_lock_a_name_only_from_where_they_came(services: Services) -> None:
    services.identity.create_user(services.owner, UserCreate(name="lee", password=GOOD))
    app = create_app(services=services, allow_open=False)

    def sign_in(client: TestClient, password: str) -> httpx.Response:
        client.cookies.set("tandem_login_csrf", FORM)
        form = {"name": "lee", "password": password, "csrf_token": FORM}
        return client.post("/login", data=form, follow_redirects=False)

    with (
        TestClient(app, base_url="http://127.0.0.1", client=("203.0.113.7", 40000)) as attacker,
        TestClient(app, base_url="http://127.0.0.1", client=("198.51.100.20", 40001)) as lee,
    ):
        for _ in range(5):
            assert sign_in(attacker, "guess guess guess").status_code == 401
        locked = sign_in(attacker, GOOD)
        assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
        # lee, from their own address, is not locked out by someone else's guesses
        ok = sign_in(lee, GOOD)
        assert ok.status_code == 303 and "tandem_session" in ok.headers["set-cookie"]
        assert sign_in(attacker, GOOD).status_code == 429  # still held back there


# -- token lifetimes ---------------------------------------------------------------------------


def test_token_lifetimes_in_hours_and_minutes(tandem: Any, services: Services) -> None:
    services.identity.create_user(services.owner, UserCreate(name="ci"))
    for asked, seconds in (("1h", 3600), ("90m", 5400), ("2d", 172_800)):
        made = tandem("tokens", "create", "t", "--user", "ci", "--expires-in", asked, "--json")
        assert made.exit_code == 0, made.stderr
        token = output_json(made.stdout)["token"]
        assert token["expires_at"] - token["created_at"] == seconds * 1000
    never = output_json(
        tandem("tokens", "create", "t", "--user", "ci", "--expires-in", "never", "--json").stdout
    )
    assert never["token"]["expires_at"] is None
    before = len(services.identity.list_tokens(services.owner, "ci"))
    for nonsense in ("1y", "an hour", "0x10h", "30s"):
        refused = tandem("tokens", "create", "t", "--user", "ci", "--expires-in", nonsense)
        assert refused.exit_code == 2
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
    assert len(services.identity.list_tokens(services.owner, "ci")) == before


def test_token_lifetimes_over_rest(services: Services) -> None:
    secret = _token(services, "ci", None)
    with TestClient(
        create_app(services=services, allow_open=False), base_url="http://127.0.0.1"
    ) as client:
        made = client.post(
            "/api/v1/tokens",
            json={"name": "h", "expires_in_seconds": 3600},
            headers=_bearer(secret),
        )
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert token["expires_at"] - token["created_at"] == 3_600_000
        both = {"name": "b", "expires_in_seconds": 3600, "expires_in_days": 1}
        refused = client.post("/api/v1/tokens", json=both, headers=_bearer(secret))
        assert refused.status_code == 422 and "not both" in refused.text
        short = client.post(
            "/api/v1/tokens", json={"name": "s", "expires_in_seconds": 5}, headers=_bearer(secret)
        )
        assert short.status_code == 422
    sdk_made = services.identity.create_token(
        services.owner, TokenCreate(name="m", user="ci", expires_in_seconds=600)
    )
    assert sdk_made.token.expires_at - sdk_made.token.created_at == 600_000  # type: ignore[operator]


# -- helpers -------------------------------------------------------------------------------------


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def _search() -> Any:
    from tandem.tracking.models import RunSearch

    return RunSearch(project="churn")


def output_json(text: str) -> Any:
    import orjson

    return orjson.loads(text)
