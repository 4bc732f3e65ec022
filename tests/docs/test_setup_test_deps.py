"""The README's test command on a fresh machine: scripts/setup-test-deps (run first by
scripts/test, and so by .ci/run) finds what the suite needs beyond Python, installs it with
apt-get as root, or says in one line what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "setup-test-deps"


def _checkout(tmp_path: Path, tools: list[str]) -> tuple[Path, Path]:
    """A copy of the script in a clone-shaped folder, and a PATH holding only `tools`."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / SCRIPT.name)
    (tmp_path / "tests/oidc/provider/node_modules/oidc-provider").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["dirname", "id", *tools]:
        found = shutil.which(tool)
        assert found is not None, f"{tool} is on this machine (the suite needs it)"
        (bin_dir / tool).symlink_to(found)
    tmp_path.chmod(0o755)
    return tmp_path, bin_dir


def _run(folder: Path, bin_dir: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, "/bin/bash", str(folder / "scripts" / SCRIPT.name)],
        env={"PATH": str(bin_dir), "HOME": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nothing_missing_is_quiet(tmp_path: Path) -> None:
    folder, bin_dir = _checkout(tmp_path, ["node", "npm", "jq", "git"])
    done = _run(folder, bin_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as another user: needs root")
def test_a_missing_tool_without_root_is_one_line_saying_what_to_install() -> None:
    # a folder `nobody` can reach (pytest's own is private to root)
    folder = Path(tempfile.mkdtemp(prefix="setup-deps-"))
    try:
        _missing_jq(folder)
    finally:
        shutil.rmtree(folder)


def _missing_jq(tmp_path: Path) -> None:
    folder, bin_dir = _checkout(tmp_path, ["node", "npm", "git"])  # no jq
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    done = _run(folder, bin_dir, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    assert done.returncode == 1
    assert done.stderr == (
        "error: the tests need jq: install them (sudo apt-get install jq, as root this script "
        "does it) and run scripts/test again\n"
    )


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run sets the database and hands over: what the suite needs is scripts/test's job."""
    lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == 'exec scripts/test "$@"'
    assert not any("apt-get" in line or "npm" in line for line in lines)
    assert "scripts/setup-test-deps" in (ROOT / "scripts" / "test").read_text()
