"""`tandem users`, `tokens`, `members`, `audit` on an embedded workspace (you are its owner)
and against a live server with a token."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.server.app import create_app
from tandem.server.container import Services


def test_first_admin_then_tokens_members_and_audit(tandem: Any) -> None:
    made = tandem("users", "create", "alice", "--role", "admin", "--password-stdin", "--json",
                  input="correct horse battery\n")  # fmt: skip
    assert made.json()["role"] == "admin" and made.json()["has_password"] is True
    # the first user closes a loopback server: one line says so, and how to get in
    assert made.stderr_lines == [
        "note: alice is the first user, so `tandem server` on loopback now asks everyone to "
        "sign in: sign in to the web UI as alice with that password; the CLI and SDK take a "
        "token (`tandem tokens create NAME --user alice`, then TANDEM_URL and TANDEM_TOKEN); "
        "here, without TANDEM_URL, you still act as the workspace owner"
    ]
    second = tandem("users", "create", "bob", "--role", "data-scientist")
    assert second.code == 0 and second.stderr_lines == []  # said once, for the first
    listed = tandem("users", "list", "--json").json()
    assert [u["name"] for u in listed["items"]] == ["alice", "bob"]

    token = tandem("tokens", "create", "laptop", "--user", "bob")
    assert token.code == 0
    secret = token.stdout.strip()
    assert secret.startswith("tdm_") and "shown once" in token.stderr
    tokens = tandem("tokens", "list", "--json").json()
    assert len(tokens) == 1 and secret not in str(tokens)

    assert tandem("projects", "create", "churn").code == 0
    added = tandem("members", "set", "bob", "-p", "churn", "--role", "ml-engineer")
    assert "bob is ml-engineer in churn" in added.stdout
    members = tandem("members", "list", "-p", "churn", "--json").json()
    assert members[0]["user"] == "bob" and members[0]["role"] == "ml-engineer"

    events = tandem("audit", "-p", "churn", "--json").json()["items"]
    assert [e["action"] for e in events] == ["member.set", "project.create"]
    everything = tandem("audit", "--all", "--since", "1h", "--action", "user.create", "--json")
    assert {e["target"] for e in everything.json()["items"]} == {"alice", "bob"}

    revoked = tandem("tokens", "revoke", tokens[0]["id"], "--json").json()
    assert revoked["revoked_at"] is not None
    assert tandem("users", "disable", "bob").code == 0
    assert tandem("users", "list", "--json").json()["items"][1]["disabled_at"] is not None


def test_a_first_user_without_a_password_is_told_how_to_sign_in(tandem: Any) -> None:
    made = tandem("users", "create", "maria", "--role", "product-manager")
    assert made.stdout == "created user maria (product-manager)\n"
    (note,) = made.stderr_lines
    assert note.startswith("note: maria is the first user, so `tandem server` on loopback")
    assert (
        "the web UI needs a user with a password (`tandem users create NAME --role admin "
        "--password`)" in note
    )
    assert "`tandem tokens create NAME --user maria`, then TANDEM_URL and TANDEM_TOKEN" in note


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("users", "create", "x", "--role", "wizard"), "unknown role 'wizard'", 2),
        (("users", "create", "Bad Name"), "user name 'Bad Name' is not valid", 2),
        (("users", "create", "x", "--password-stdin"), "no password on standard input", 2),
        (("tokens", "create", "t"), "say whose token it is: --user NAME", 2),
        (("tokens", "create", "t", "--user", "ghost"), "user 'ghost' does not exist", 3),
        (("tokens", "revoke", "tok_nope"), "token 'tok_nope' does not exist", 3),
        (("members", "list", "-p", "nope"), "project 'nope' does not exist", 3),
        (("audit", "--since", "yesterday", "--all"), "invalid duration 'yesterday'", 2),
        (("audit", "--all", "--outcome", "meh"), "outcome must be one of", 2),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    tandem: Any, args: tuple[str, ...], message: str, code: int
) -> None:
    result = tandem(*args, input="")
    assert result.code == code, result.stderr
    assert len(result.stderr_lines) == 1 and message in result.stderr


def test_remote_with_a_token(tandem: Any, services: Services, monkeypatch: Any, serve: Any) -> None:
    assert tandem("users", "create", "carol", "--role", "data-scientist").code == 0
    secret = tandem("tokens", "create", "ci", "--user", "carol").stdout.strip()
    with serve(create_app(services=services, allow_open=False)) as url:
        monkeypatch.setenv("TANDEM_URL", url)
        assert tandem("users", "whoami").code == 5  # no token: refused
        monkeypatch.setenv("TANDEM_TOKEN", secret)
        me = tandem("users", "whoami", "--json").json()
        assert me["name"] == "carol" and me["via"] == "token"
        assert tandem("projects", "create", "churn").code == 0
        assert tandem("members", "list", "-p", "churn", "--json").json()[0]["role"] == "admin"
        refused = tandem("users", "list")
        assert refused.code == 5 and "carol may not admin" in refused.stderr
