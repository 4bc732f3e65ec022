"""The same CLI against a live server on loopback (`TANDEM_URL`): one code path, same answers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Seeded, seed

from tandem.errors import InvalidFilter
from tandem.sdk.client import Client
from tandem.tracking.filters import parse_filter


@pytest.fixture
def runs(remote: Client) -> Seeded:
    return seed(remote)


def test_remote_search_json_and_pagination(tandem: Any, runs: Seeded) -> None:
    args = ["runs", "search", "metrics.auc > 0.8 and params.model = 'gbm'", "--project", "churn"]
    page = tandem(*args, "--order-by", "metrics.auc", "--limit", "1", "--json").json()
    assert [r["id"] for r in page["items"]] == [runs.gbm_shallow]
    assert page["next_cursor"]
    rest = tandem(*args, "-o", "metrics.auc", "-n", "1", "--cursor", page["next_cursor"], "--json")
    assert [r["id"] for r in rest.json()["items"]] == [runs.gbm_deep]
    assert rest.json()["next_cursor"] is None


def test_remote_show_compare_history(tandem: Any, runs: Seeded) -> None:
    shown = tandem("runs", "show", f"churn/runs/{runs.lr[:8]}", "--json").json()
    assert shown["id"] == runs.lr and shown["params"]["model"] == "lr"
    assert tandem("runs", "show", f"other/runs/{runs.lr}").code == 3
    compared = tandem("runs", "compare", runs.gbm_deep, runs.lr, "--json").json()
    assert compared["params_differ"] == ["depth", "model"]
    history = tandem("runs", "history", runs.gbm_deep, "loss", "--json").json()
    assert history["step"] == [0, 1, 2, 3, 4]


def test_remote_malformed_filter_keeps_its_caret(tandem: Any, runs: Seeded) -> None:
    bad = "metrics.auc > 0.8 and params.model = gbm'"
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(bad)
    result = tandem("runs", "search", bad, "-p", "churn")
    assert result.code == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr_lines
    assert len(lines) == 3
    assert lines[1] == "  " + bad
    assert lines[2].index("^") == 2 + caught.value.details["position"]


def test_remote_unknown_run_is_exit_3(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "show", "0123456789abcdef0123456789abcdef")
    assert result.code == 3
    assert len(result.stderr_lines) == 1


def test_remote_upload_download_round_trip(
    tandem: Any, runs: Seeded, remote: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "weights"
    (folder / "layer").mkdir(parents=True)
    payload = {"layer/w.bin": os.urandom(2 * 2**20 + 3), "config.json": b'{"layers": 2}'}
    for rel, data in payload.items():
        (folder / rel).write_bytes(data)
    up = tandem("runs", "upload", runs.gbm_deep, str(folder))
    assert up.code == 0, up.stderr
    assert "uploaded 2 files" in up.stdout
    refused = tandem("runs", "upload", runs.gbm_deep, str(folder / "config.json"), "--path", "../x")
    assert refused.code == 2
    assert len(remote.runs.list_artifacts(runs.gbm_deep)) == 2

    out = tmp_path / "out"
    down = tandem("runs", "download", runs.gbm_deep[:8], "weights", "-d", str(out))
    assert down.code == 0, down.stderr
    for rel, data in payload.items():
        assert (out / "weights" / rel).read_bytes() == data


def test_remote_delete_restore_and_gc(tandem: Any, runs: Seeded, remote: Client) -> None:
    remote.runs.upload_bytes(runs.gbm_weak, b"only here", "x.txt")
    assert tandem("runs", "delete", runs.gbm_weak).code == 0
    dry = tandem("gc", "--dry-run", "--grace", "0s", "--json").json()
    assert dry["runs_purged"] == 1
    assert tandem("runs", "restore", runs.gbm_weak).code == 0
    assert tandem("runs", "delete", runs.gbm_weak).code == 0
    report = tandem("gc", "--grace", "0s", "--yes", "--json").json()
    assert report["runs_purged"] == 1 and report["blobs_deleted"] == 1
    assert tandem("runs", "show", runs.gbm_weak).code == 3


def test_remote_projects_and_sync(tandem: Any, runs: Seeded) -> None:
    names = [p["name"] for p in tandem("projects", "list", "--json").json()["items"]]
    assert sorted(names) == ["churn", "other"]
    assert tandem("projects", "create", "fraud").code == 0
    assert tandem("projects", "show", "fraud", "--json").json()["name"] == "fraud"
    assert tandem("sync", "--json").json() == {"runs": [], "points": 0}
