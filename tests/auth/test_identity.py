"""Users, tokens, membership and the audit log, through the SDK against a real server on
loopback (tokens over HTTP) and the embedded workspace (the owner)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tandem import errors
from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.identity.models import UserCreate
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services


@pytest.fixture
def server(services: Services, serve: Any) -> Iterator[str]:
    with serve(create_app(services=services, allow_open=False)) as url:
        yield url


@pytest.fixture
def as_user(server: str, services: Services, settings: Settings) -> Iterator[Any]:
    """`as_user(name, role)`: an SDK client with a fresh token for a new user."""
    opened: list[Client] = []

    def make(name: str, role: Role = Role.VIEWER) -> Client:
        services.identity.create_user(services.owner, UserCreate(name=name, role=role))
        owner_sdk = Client(settings=settings)
        secret = owner_sdk.tokens.create("test", user=name).secret
        sdk = Client(server, token=secret, settings=settings)
        opened.append(sdk)
        return sdk

    yield make
    for sdk in opened:
        sdk.close()


def test_a_token_is_shown_once_and_stored_hashed(services: Services, settings: Settings) -> None:
    owner = Client(settings=settings)
    owner.users.create("alice", role="data-scientist")
    created = owner.tokens.create("laptop", user="alice")
    assert created.secret.startswith("tdm_")
    listed = owner.tokens.list("alice")
    assert [t.id for t in listed] == [created.token.id]
    assert "secret" not in listed[0].model_dump()
    with services.db.read() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM tokens")).scalar_one()
    assert created.secret not in stored and len(stored) == 64


def test_sign_in_with_a_token_and_see_only_your_projects(as_user: Any) -> None:
    alice = as_user("alice", Role.DATA_SCIENTIST)
    bob = as_user("bob", Role.DATA_SCIENTIST)
    alice.projects.create("churn")
    bob.projects.create("fraud")
    with alice.start_run("churn", "baseline") as run:
        run.log_metrics({"auc": 0.8})
    assert alice.users.me().roles == {"churn": Role.ADMIN}  # creators administer their project
    assert [p.name for p in alice.projects.list().items] == ["churn"]
    assert [p.name for p in bob.projects.list().items] == ["fraud"]
    with pytest.raises(errors.NotFound, match="does not exist"):
        bob.runs.search("churn")
    with pytest.raises(errors.NotFound):
        bob.runs.get(run.id)
    alice.members.set("churn", "bob", "viewer")
    assert len(bob.runs.search("churn").items) == 1
    with pytest.raises(errors.PermissionDenied, match="bob may not run:write"):
        bob.runs.create("churn")


def test_revoked_expired_and_disabled_credentials_are_refused(
    as_user: Any, services: Services, settings: Settings
) -> None:
    carol = as_user("carol", Role.ADMIN)
    assert carol.users.me().is_admin
    token_id = carol.tokens.list()[0].id
    carol.tokens.revoke(token_id)
    with pytest.raises(errors.Unauthenticated, match="invalid, expired or revoked"):
        carol.users.me()
    dave = as_user("dave", Role.VIEWER)
    Client(settings=settings).users.disable("dave")
    with pytest.raises(errors.Unauthenticated):
        dave.projects.list()
    Client(settings=settings).users.enable("dave")
    assert dave.users.me().name == "dave"


def test_a_non_admin_cannot_manage_users_or_make_tokens_for_others(as_user: Any) -> None:
    erin = as_user("erin", Role.DATA_SCIENTIST)
    with pytest.raises(errors.PermissionDenied):
        erin.users.create("mallory", role="admin")
    with pytest.raises(errors.PermissionDenied):
        erin.tokens.create("sneaky", user="admin")
    with pytest.raises(errors.PermissionDenied):
        erin.audit.list()
    mine = erin.tokens.create("second")
    assert mine.token.user == "erin"


def test_a_project_keeps_an_admin(as_user: Any) -> None:
    frank = as_user("frank", Role.DATA_SCIENTIST)
    frank.projects.create("churn")
    with pytest.raises(errors.Conflict, match="last admin"):
        frank.members.set("churn", "frank", "viewer")
    with pytest.raises(errors.Conflict, match="last admin"):
        frank.members.remove("churn", "frank")


def test_no_credentials_on_a_server_with_users_is_anonymous(server: str, as_user: Any) -> None:
    as_user("gina", Role.ADMIN)
    anonymous = Client(server)
    with pytest.raises(errors.Unauthenticated, match="sign in"):
        anonymous.projects.list()
    forged = Client(server, token="tdm_forged")
    with pytest.raises(errors.Unauthenticated):
        forged.projects.list()
    anonymous.close()
    forged.close()


def test_the_audit_log_records_writes_downloads_and_denials(
    as_user: Any, settings: Settings
) -> None:
    hank = as_user("hank", Role.DATA_SCIENTIST)
    ivy = as_user("ivy", Role.VIEWER)
    hank.projects.create("churn")
    hank.members.set("churn", "ivy", "viewer")
    with hank.start_run("churn", "r") as run:
        run.log_params({"depth": 6})
    hank.runs.upload_bytes(run.id, b"hello", "notes.txt")
    assert ivy.runs.read_artifact(run.id, "notes.txt") == b"hello"
    with pytest.raises(errors.PermissionDenied):
        ivy.runs.delete(run.id)
    events = hank.audit.list("churn").items
    actions = [(e.actor, e.action, e.outcome) for e in events]
    assert ("hank", "run.create", "ok") in actions
    assert ("hank", "artifact.upload", "ok") in actions
    assert ("ivy", "artifact.download", "ok") in actions
    assert ("ivy", "access.denied", "denied") in actions
    denied = next(e for e in events if e.outcome == "denied")
    assert denied.target == f"/api/v1/runs/{run.id}" and denied.details["method"] == "DELETE"
    download = next(e for e in events if e.action == "artifact.download")
    assert download.source == "127.0.0.1" and download.via == "token"
    assert download.target == f"{run.id}/notes.txt"
    only_ivy = hank.audit.list("churn", actor="ivy").items
    assert {e.actor for e in only_ivy} == {"ivy"}
    runs_only = hank.audit.list("churn", action="run.").items
    assert runs_only and all(e.action.startswith("run.") for e in runs_only)
    with pytest.raises(errors.PermissionDenied):
        ivy.audit.list("churn")  # a viewer may not read the project's log...
    owner_view = Client(settings=settings).audit.list().items  # ...the workspace owner may
    assert any(e.action == "user.create" for e in owner_view)


def test_the_audit_log_cannot_be_edited(services: Services) -> None:
    services.identity.create_user(services.owner, UserCreate(name="jo"))
    for statement in ("UPDATE audit_events SET actor = 'nobody'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), services.db.write() as conn:
            conn.execute(text(statement))
    with services.db.read() as conn:
        assert conn.execute(text("SELECT actor FROM audit_events")).scalars().all() != []


def test_passwords_are_checked_and_hashed(services: Services) -> None:
    with pytest.raises(errors.InvalidInput, match="12 to"):
        services.identity.create_user(services.owner, UserCreate(name="kim", password="short"))
    services.identity.create_user(
        services.owner, UserCreate(name="kim", password="correct horse battery")
    )
    with services.db.read() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$")
    session_id, session = services.identity.login("kim", "correct horse battery", "10.0.0.1")
    assert session.principal.name == "kim"
    assert services.identity.session(session_id, "10.0.0.1") is not None
    assert services.identity.session("forged", "10.0.0.1") is None


def test_sign_in_is_rate_limited(services: Services) -> None:
    services.identity.create_user(
        services.owner, UserCreate(name="lee", password="correct horse battery")
    )
    for _ in range(5):
        with pytest.raises(errors.Unauthenticated, match="wrong user name or password"):
            services.identity.login("lee", "guess", "10.0.0.9")
    with pytest.raises(errors.RateLimited, match="too many failed sign-ins"):
        services.identity.login("lee", "correct horse battery", "10.0.0.9")
    with pytest.raises(errors.Unauthenticated, match="wrong user name or password"):
        services.identity.login("nobody", "guess", "10.0.0.9")  # same answer: names do not leak


def test_user_names_are_checked(services: Services) -> None:
    for bad in ("", "Alice", "../x", "a" * 65, "a b"):
        with pytest.raises(errors.InvalidInput):
            services.identity.create_user(services.owner, UserCreate(name=bad))
    services.identity.create_user(services.owner, UserCreate(name="ok"))
    with pytest.raises(errors.AlreadyExists):
        services.identity.create_user(services.owner, UserCreate(name="ok"))


def test_a_guessed_hash_does_not_open_another_projects_artifact(as_user: Any) -> None:
    owner_a = as_user("amy", Role.DATA_SCIENTIST)
    owner_b = as_user("ben", Role.DATA_SCIENTIST)
    owner_a.projects.create("secret")
    owner_b.projects.create("mine")
    run_a = owner_a.runs.create("secret")
    stored = owner_a.runs.upload_bytes(run_a.id, b"the secret model", "model.bin")
    from tandem.tracking.models import RunCreate

    with pytest.raises(errors.NotFound, match="is not stored"):
        owner_b.runs.create("mine", RunCreate(link_artifacts={"stolen.bin": stored.oid}))
    assert owner_b.runs.search("mine").items == []  # nothing half-made
    denied = owner_b.audit.list("mine", outcome="denied").items
    assert denied and denied[0].actor == "ben" and denied[0].action == "access.denied"
    with pytest.raises(errors.NotFound):
        owner_b.runs.read_artifact(run_a.id, "model.bin")
    # with read access to a project holding it, linking by hash is fine
    owner_a.members.set("secret", "ben", "viewer")
    linked = owner_b.runs.create("mine", RunCreate(link_artifacts={"copy.bin": stored.oid}))
    assert owner_b.runs.read_artifact(linked.id, "copy.bin") == b"the secret model"


def test_downloads_are_never_rendered_by_the_browser(as_user: Any, server: str) -> None:
    import httpx

    uploader = as_user("cat", Role.DATA_SCIENTIST)
    uploader.projects.create("churn")
    run = uploader.runs.create("churn")
    page = b"<html><script>window.__xss = 1</script></html>"
    token = uploader.tokens.create("raw").secret
    headers = {"authorization": f"Bearer {token}"}
    put = httpx.put(
        f"{server}/api/v1/runs/{run.id}/artifacts/page.html",
        content=page,
        headers={**headers, "content-type": "text/html"},
    )
    assert put.status_code == 201
    got = httpx.get(f"{server}/api/v1/runs/{run.id}/artifacts/page.html", headers=headers)
    assert got.content == page
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment")
