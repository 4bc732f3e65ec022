"""A client keeps one emptied spool file for its next run instead of creating and deleting a
file per run; nothing of a finished run is left in it, and nobody else's file is taken."""

from __future__ import annotations

import os
import subprocess
import sys

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.sdk.spool import SpoolFiles, parse_spool


def test_runs_of_a_client_reuse_one_emptied_file(settings: Settings) -> None:
    with Client(settings=settings) as client:
        with client.start_run("p", capture_environment=False) as first:
            first.log_metric("loss", 1.0)
            [path] = settings.spool_dir.glob("*.spool")
            spooled = parse_spool(path)
            assert spooled is not None and spooled.run_id == first.id
        assert path.stat().st_size == 0  # shipped: nothing left to recover
        with client.start_run("p", capture_environment=False) as second:
            second.log_metric("loss", 2.0)
            assert list(settings.spool_dir.glob("*.spool")) == [path]
            spooled = parse_spool(path)
            assert spooled is not None and spooled.run_id == second.id
            assert [record for _, record in spooled.records] == [
                {"m": [["loss", 2.0, 0, spooled.records[0][1]["m"][0][3]]]}
            ]
        assert client.runs.metric_history(second.id, "loss").value == [2.0]
    assert list(settings.spool_dir.glob("*.spool")) == []  # closing the client deletes it


def test_concurrent_runs_get_their_own_files_and_one_is_kept(settings: Settings) -> None:
    files = SpoolFiles(settings.spool_dir)
    a, b = files.take(), files.take()
    assert a[0] != b[0]
    os.write(a[1], b"x\n")
    files.give_back(*a)
    files.give_back(*b)  # one spare is kept: the other is deleted
    assert sorted(settings.spool_dir.glob("*.spool")) == [a[0]]
    assert a[0].stat().st_size == 0
    assert files.take() == a
    files.give_back(*a)
    files.close()
    assert list(settings.spool_dir.glob("*.spool")) == []


def test_an_emptied_file_left_by_a_dead_process_is_deleted_by_recovery(
    settings: Settings,
) -> None:
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from tandem.sdk.spool import SpoolFiles\n"
        "files = SpoolFiles(Path(sys.argv[1]))\n"
        "path, fd = files.take()\n"
        "files.give_back(path, fd)\n"
        "os._exit(0)  # dies without closing its client\n"
    )
    subprocess.run([sys.executable, "-c", code, str(settings.spool_dir)], check=True)
    [left] = settings.spool_dir.glob("*.spool")
    assert left.stat().st_size == 0
    with Client(settings=settings) as client:
        assert client.sync().runs == []
    assert list(settings.spool_dir.glob("*.spool")) == []
