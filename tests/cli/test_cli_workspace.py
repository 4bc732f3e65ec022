"""`tandem projects`, `gc`, `sync`, `server`, `version`, `--help` and usage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tandem import __version__
from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.store.blobs import LocalBlobStore

# -- projects ------------------------------------------------------------------------------


def test_projects_lifecycle(tandem: Any, sdk: Client) -> None:
    created = tandem("projects", "create", "churn", "-d", "customer churn")
    assert created.code == 0
    assert created.stdout.strip() == "created project churn"
    made = tandem("projects", "create", "fraud", "--json").json()
    assert made["name"] == "fraud" and made["deleted_at"] is None

    page = tandem("projects", "list", "--json").json()
    assert sorted(p["name"] for p in page["items"]) == ["churn", "fraud"]
    table = tandem("projects", "list")
    assert "churn" in table.stdout and "customer churn" in table.stdout

    sdk.runs.create("churn")
    shown = tandem("projects", "show", "churn", "--json").json()
    assert shown["description"] == "customer churn" and shown["run_count"] == 1
    human = tandem("projects", "show", "churn")
    assert "customer churn" in human.stdout and "1 runs" in human.stdout

    deleted = tandem("projects", "delete", "fraud")
    assert deleted.code == 0
    assert "tandem projects restore fraud" in deleted.stdout
    assert [p["name"] for p in tandem("projects", "list", "--json").json()["items"]] == ["churn"]
    with_deleted = tandem("projects", "list", "--deleted", "--json").json()
    assert {p["name"]: p["deleted_at"] is not None for p in with_deleted["items"]} == {
        "churn": False,
        "fraud": True,
    }

    restored = tandem("projects", "restore", "fraud", "--json").json()
    assert restored["deleted_at"] is None
    assert len(tandem("projects", "list", "--json").json()["items"]) == 2


def test_projects_list_pages(tandem: Any, sdk: Client) -> None:
    for name in ("a1", "b2", "c3"):
        sdk.projects.create(name)
    first = tandem("projects", "list", "--limit", "2", "--json").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    table = tandem("projects", "list", "--limit", "2")
    assert f"next page: --cursor {first['next_cursor']}" in table.stdout
    rest = tandem("projects", "list", "--limit", "2", "--cursor", first["next_cursor"], "--json")
    names = [p["name"] for p in first["items"] + rest.json()["items"]]
    assert sorted(names) == ["a1", "b2", "c3"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["projects", "create", "Bad Name!"], 2),
        (["projects", "show", "nope"], 3),
        (["projects", "delete", "nope"], 3),
        (["projects", "restore", "nope"], 3),
    ],
)
def test_project_errors(tandem: Any, sdk: Client, args: list[str], code: int) -> None:
    result = tandem(*args)
    assert result.code == code
    assert len(result.stderr_lines) == 1 and result.stderr.startswith("error: ")
    assert tandem("projects", "list", "--json").json()["items"] == []


def test_project_duplicate_and_restore_of_live_project(tandem: Any, sdk: Client) -> None:
    sdk.projects.create("churn")
    duplicate = tandem("projects", "create", "churn")
    assert duplicate.code == 4
    assert "already exists" in duplicate.stderr
    not_deleted = tandem("projects", "restore", "churn")
    assert not_deleted.code == 4


# -- gc ------------------------------------------------------------------------------------


def blob_store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(Path(settings.artifacts))


def test_gc_dry_run_then_gc_frees_only_unreferenced_blobs(
    tandem: Any, sdk: Client, settings: Settings
) -> None:
    doomed = sdk.runs.create("churn")
    kept = sdk.runs.create("churn")
    only = sdk.runs.upload_bytes(doomed.id, b"only in the doomed run", "a.txt")
    shared = sdk.runs.upload_bytes(doomed.id, b"shared by both runs", "shared.txt")
    sdk.runs.upload_bytes(kept.id, b"shared by both runs", "copy.txt")
    blobs = blob_store(settings)
    assert blobs.exists(only.oid) and blobs.exists(shared.oid)

    assert tandem("runs", "delete", doomed.id).code == 0

    dry = tandem("gc", "--dry-run", "--older-than", "0s", "--grace", "0s", "--json").json()
    assert dry["dry_run"] is True and dry["runs_purged"] == 1
    human = tandem("gc", "--dry-run", "--grace", "0s")
    assert human.code == 0 and "would purge 1 runs" in human.stdout
    # A dry run changes nothing: the run is still there, restorable, with its blobs.
    assert sdk.runs.get(doomed.id).deleted_at is not None
    assert blobs.exists(only.oid) and blobs.exists(shared.oid)

    # Deleted too recently for --older-than 1h: nothing goes.
    recent = tandem("gc", "--older-than", "1h", "--grace", "0s", "--yes", "--json").json()
    assert recent["runs_purged"] == 0 and recent["blobs_deleted"] == 0

    report = tandem("gc", "--older-than", "0s", "--grace", "0s", "--yes", "--json").json()
    assert report["dry_run"] is False
    assert report["runs_purged"] == 1
    assert report["blobs_deleted"] == 1
    assert report["bytes_freed"] == len(b"only in the doomed run")
    assert not blobs.exists(only.oid)
    assert blobs.exists(shared.oid)  # still referenced by the kept run
    assert sdk.runs.read_artifact(kept.id, "copy.txt") == b"shared by both runs"
    assert tandem("runs", "show", doomed.id).code == 3

    # Delete the last run that references the shared blob: now it goes too.
    assert tandem("runs", "delete", kept.id).code == 0
    final = tandem("gc", "--grace", "0s", "-y")
    assert final.code == 0
    assert "purged 1 runs" in final.stdout and "freed 1 blobs" in final.stdout
    assert not blobs.exists(shared.oid)


def test_gc_asks_before_purging(tandem: Any, sdk: Client) -> None:
    run = sdk.runs.create("churn")
    sdk.runs.delete(run.id)
    declined = tandem("gc", "--grace", "0s", input="n\n")
    assert declined.code == 1
    assert "purge 1 runs" in declined.stderr  # the prompt is on stderr, stdout stays clean
    assert declined.stdout == ""
    assert "nothing was purged" in declined.stderr
    assert sdk.runs.get(run.id).deleted_at is not None  # nothing changed

    no_answer = tandem("gc", "--grace", "0s", input="")  # end of input: no
    assert no_answer.code == 1
    assert sdk.runs.get(run.id).deleted_at is not None

    accepted = tandem("gc", "--grace", "0s", "--json", input="y\n")
    assert accepted.code == 0
    assert accepted.json()["runs_purged"] == 1  # stdout is only the JSON
    assert tandem("runs", "show", run.id).code == 3


def test_gc_with_nothing_to_do(tandem: Any, sdk: Client) -> None:
    sdk.runs.create("churn")
    result = tandem("gc")
    assert result.code == 0
    assert "nothing to collect" in result.stdout
    data = tandem("gc", "--json").json()
    assert data["runs_purged"] == 0 and data["projects_purged"] == []


@pytest.mark.parametrize("option", ["--older-than", "--grace"])
def test_gc_bad_duration(tandem: Any, sdk: Client, option: str) -> None:
    run = sdk.runs.create("churn")
    sdk.runs.delete(run.id)
    result = tandem("gc", option, "7 days", "--yes")
    assert result.code == 2
    assert len(result.stderr_lines) == 1 and "invalid duration" in result.stderr
    assert sdk.runs.get(run.id).deleted_at is not None


def test_gc_purges_a_deleted_project(tandem: Any, sdk: Client) -> None:
    sdk.runs.create("churn")
    assert tandem("projects", "delete", "churn").code == 0
    report = tandem("gc", "--grace", "0s", "--yes", "--json").json()
    assert report["projects_purged"] == ["churn"]
    assert tandem("projects", "show", "churn").code == 3


# -- sync ----------------------------------------------------------------------------------


def test_sync_with_nothing_to_do(tandem: Any, sdk: Client) -> None:
    result = tandem("sync")
    assert result.code == 0
    assert result.stdout.strip() == "nothing to sync"
    assert tandem("sync", "--json").json() == {"runs": [], "points": 0}


# -- server --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com"])
def test_server_refuses_a_non_loopback_host(tandem: Any, host: str) -> None:
    result = tandem("server", "--host", host)
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    assert f"refusing to listen on {host}" in result.stderr
    assert "loopback" in result.stderr


def test_server_refuses_a_bad_port(tandem: Any) -> None:
    result = tandem("server", "--port", "70000")
    assert result.code == 2
    assert "invalid port" in result.stderr


# -- version, help, usage errors -----------------------------------------------------------


def test_version(tandem: Any) -> None:
    result = tandem("version")
    assert result.code == 0 and result.stdout.strip() == __version__
    assert tandem("version", "--json").json() == {"version": __version__}


RUN_COMMANDS = ["search", "list", "show", "compare", "history", "delete", "restore"]
RUN_COMMANDS += ["upload", "download"]
COMMANDS = [
    [],
    ["version"],
    ["server"],
    ["gc"],
    ["sync"],
    ["projects"],
    *(["projects", c] for c in ("list", "create", "show", "delete", "restore")),
    ["runs"],
    *(["runs", c] for c in RUN_COMMANDS),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tandem")
def test_help(tandem: Any, command: list[str]) -> None:
    for flag in ("--help", "-h"):
        result = tandem(*command, flag)
        assert result.code == 0, result.stderr
        assert "Usage: tandem" in result.stdout
        assert result.exception is None


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "show"],  # missing argument
        ["runs", "bogus"],  # no such command
        ["runs", "search", "--limit", "many"],  # bad value
        ["gc", "--bogus"],  # no such option
    ],
)
def test_usage_errors_are_one_line(tandem: Any, args: list[str]) -> None:
    result = tandem(*args)
    assert result.code == 2
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert "--help" in result.stderr
    assert result.exception is None


def test_unreachable_server_is_exit_6(tandem: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    result = tandem("projects", "list")
    assert result.code == 6
    assert len(result.stderr_lines) == 1 and "cannot reach tandem" in result.stderr
    # --url on the command line does the same, and does not stick.
    monkeypatch.delenv("TANDEM_URL")
    assert tandem("--url", "http://127.0.0.1:9", "projects", "list").code == 6
    assert tandem("projects", "list").code == 0
