"""`tandem runs upload/download`: files and folders round trip byte for byte, and unsafe paths
are refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tandem.sdk.client import Client
from tandem.tracking.models import Run


@pytest.fixture
def run(sdk: Client) -> Run:
    return sdk.runs.create("churn")


def make_folder(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"hello\n",
        "sub/b.bin": os.urandom(3 * 2**20 + 17),  # several upload chunks
        "sub/deeper/c.json": b'{"x": 1}',
        "empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_folder_round_trip(tandem: Any, run: Run, sdk: Client, tmp_path: Path) -> None:
    files = make_folder(tmp_path / "model")
    up = tandem("runs", "upload", run.id[:8], str(tmp_path / "model"), "--json").json()
    assert sorted(a["path"] for a in up) == sorted(f"model/{rel}" for rel in files)
    assert {a["path"]: a["size"] for a in up} == {f"model/{k}": len(v) for k, v in files.items()}
    assert sorted(a.path for a in sdk.runs.list_artifacts(run.id)) == sorted(
        f"model/{rel}" for rel in files
    )

    out = tmp_path / "out"
    down = tandem("runs", "download", f"churn/runs/{run.id}", "--dest", str(out), "--json").json()
    assert len(down) == len(files)
    for rel, data in files.items():
        assert (out / "model" / rel).read_bytes() == data
    assert not list(out.rglob(".tandem-download-*"))  # no temporary files left

    # One folder of the run, and one file.
    only_sub = tmp_path / "only-sub"
    result = tandem("runs", "download", run.id, "model/sub", "-d", str(only_sub))
    assert result.code == 0, result.stderr
    assert "downloaded 2 files" in result.stdout
    written = sorted(p.relative_to(only_sub).as_posix() for p in only_sub.rglob("*") if p.is_file())
    assert written == ["model/sub/b.bin", "model/sub/deeper/c.json"]
    one = tmp_path / "one"
    assert tandem("runs", "download", run.id, "model/a.txt", "-d", str(one)).code == 0
    assert (one / "model/a.txt").read_bytes() == b"hello\n"
    assert [p.name for p in one.rglob("*") if p.is_file()] == ["a.txt"]


def test_upload_a_file_with_a_path(tandem: Any, run: Run, sdk: Client, tmp_path: Path) -> None:
    source = tmp_path / "roc.png"
    source.write_bytes(b"\x89PNG fake")
    result = tandem("runs", "upload", run.id, str(source), "--path", "plots/roc.png")
    assert result.code == 0, result.stderr
    assert "uploaded plots/roc.png (9 bytes)" in result.stdout
    assert sdk.runs.read_artifact(run.id, "plots/roc.png") == b"\x89PNG fake"

    default = tandem("runs", "upload", run.id, str(source), "--json").json()
    assert [a["path"] for a in default] == ["roc.png"]

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    prefixed = tandem("runs", "upload", run.id, str(folder), "--path", "inputs/", "--json").json()
    assert [a["path"] for a in prefixed] == ["inputs/x.txt"]


@pytest.mark.parametrize(
    "bad_path", ["../escape.txt", "a/../../b", "/etc/passwd", "a//b", "..", "a\\b", "%2e%2e/x"]
)
def test_upload_refuses_unsafe_paths(
    tandem: Any, run: Run, sdk: Client, tmp_path: Path, bad_path: str
) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    result = tandem("runs", "upload", run.id, str(source), "--path", bad_path)
    assert result.code == 2
    assert len(result.stderr_lines) == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert sdk.runs.list_artifacts(run.id) == []  # nothing changed

    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    (folder / "y.txt").write_text("y")
    as_prefix = tandem("runs", "upload", run.id, str(folder), "--path", bad_path)
    assert as_prefix.code == 2
    assert sdk.runs.list_artifacts(run.id) == []


def test_download_refuses_unsafe_paths(tandem: Any, run: Run, tmp_path: Path) -> None:
    result = tandem("runs", "download", run.id, "../x", "-d", str(tmp_path / "out"))
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    assert not (tmp_path / "out").exists()


def test_upload_refuses_a_folder_with_a_symlink_before_uploading_anything(
    tandem: Any, run: Run, sdk: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "z-link").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("do not upload")
    result = tandem("runs", "upload", run.id, str(folder))
    assert result.code == 2
    assert "symbolic link" in result.stderr
    assert sdk.runs.list_artifacts(run.id) == []


def test_download_refuses_to_write_through_a_symlink(
    tandem: Any, run: Run, sdk: Client, tmp_path: Path
) -> None:
    sdk.runs.upload_bytes(run.id, b"payload", "sub/file.txt")
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    result = tandem("runs", "download", run.id, "-d", str(out))
    assert result.code == 2
    assert "symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_upload_and_download_errors(tandem: Any, run: Run, sdk: Client, tmp_path: Path) -> None:
    missing = tandem("runs", "upload", run.id, str(tmp_path / "missing.txt"))
    assert missing.code == 3
    assert len(missing.stderr_lines) == 1

    source = tmp_path / "x.txt"
    source.write_text("x")
    no_run = tandem("runs", "upload", "0123456789abcdef0123456789abcdef", str(source))
    assert no_run.code == 3

    not_there = tandem("runs", "download", run.id, "nope.txt", "-d", str(tmp_path / "o"))
    assert not_there.code == 3
    assert "nope.txt" in not_there.stderr

    nothing = tandem("runs", "download", run.id, "-d", str(tmp_path / "o"))
    assert nothing.code == 0
    assert "no artifacts" in nothing.stderr

    # A deleted run takes no uploads: the refusal comes before any byte moves.
    sdk.runs.delete(run.id)
    deleted = tandem("runs", "upload", run.id, str(source))
    assert deleted.code == 4
    assert "deleted" in deleted.stderr
    assert sdk.runs.list_artifacts(run.id) == []


def test_download_folder_prefix_does_not_match_siblings(
    tandem: Any, run: Run, sdk: Client, tmp_path: Path
) -> None:
    sdk.runs.upload_bytes(run.id, b"1", "data/a.txt")
    sdk.runs.upload_bytes(run.id, b"2", "data2/b.txt")
    sdk.runs.upload_bytes(run.id, b"3", "data.txt")
    out = tmp_path / "out"
    down = tandem("runs", "download", run.id, "data", "-d", str(out), "--json").json()
    assert [a["path"] for a in down] == ["data/a.txt"]
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == ["data/a.txt"]


def test_show_lists_artifacts(tandem: Any, run: Run, tmp_path: Path) -> None:
    files = make_folder(tmp_path / "m")
    assert tandem("runs", "upload", run.id, str(tmp_path / "m")).code == 0
    shown = tandem("runs", "show", run.id, "--json").json()
    assert {a["path"] for a in shown["artifacts"]} == {f"m/{rel}" for rel in files}
