"""What a run records about where it ran: code version, Python, platform, packages, command.

Captured once per process and cached: `git` and scanning installed packages cost ~10-60 ms,
which would dominate creating a run. Git remote URLs are stored without credentials.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

from blake3 import blake3

from tandem.tracking.models import CodeVersion, Environment

PACKAGES_ARTIFACT = "environment/packages.txt"
_CREDENTIALS = re.compile(r"(?<=://)[^/@]+@")


def _git(cwd: str, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", "replace").strip()


@functools.lru_cache(maxsize=8)
def code_version(cwd: str) -> CodeVersion:
    """The git commit of `cwd`, whether the tree is dirty, and a hash of the diff."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return CodeVersion()
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    dirty = bool(status)
    diff_hash = None
    if dirty:
        try:
            diff = subprocess.run(
                ["git", "diff", "HEAD", "--binary"], cwd=cwd, capture_output=True, timeout=30
            ).stdout
            diff_hash = blake3(diff).hexdigest()
        except (OSError, subprocess.TimeoutExpired):
            diff_hash = None
    remote = _git(cwd, "config", "--get", "remote.origin.url")
    return CodeVersion(
        commit=commit,
        branch=_git(cwd, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty=dirty,
        diff_hash=diff_hash,
        repository=_CREDENTIALS.sub("", remote) if remote else None,
    )


CACHE: dict[str, Path | None] = {"dir": None}  # the workspace's cache folder (set by Client)


@functools.lru_cache(maxsize=1)
def package_list() -> str:
    """Installed distributions as sorted `name==version` lines.

    Scanning them costs ~0.1 s, a third of a CLI command's start, so the list is also kept in
    the workspace's cache, named by the interpreter and the modification times of the folders
    on sys.path (installing or removing a package changes its folder's)."""
    folder = CACHE["dir"]
    cached = folder / f"packages-{_packages_key()}.txt" if folder is not None else None
    if cached is not None:
        with contextlib.suppress(OSError):
            return cached.read_text(encoding="utf-8")
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    text = "\n".join(sorted(seen.values())) + "\n"
    if cached is not None:
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, cached)
    return text


def _packages_key() -> str:
    parts = [sys.prefix, sys.version]
    here = os.getcwd()
    for entry in sys.path:
        if entry and entry != here:  # the current folder changes with every file written in it
            with contextlib.suppress(OSError):
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    return blake3("\n".join(parts).encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=1)
def _process_facts() -> tuple[str, str, str, str]:
    """Python, platform, hash of the package list and host name: fixed for a process."""
    packages_hash = blake3(package_list().encode()).hexdigest()
    return platform.python_version(), platform.platform(), packages_hash, socket.gethostname()


def capture(cwd: Path | None = None) -> Environment:
    """The environment of a run started now in `cwd` (default: the current folder). The same
    object for the same folder and process: it is all cached, and building it again cost a
    short run a tenth of its time. Treat it as read-only."""
    return _capture(str(cwd) if cwd is not None else os.getcwd(), os.getpid())


@functools.lru_cache(maxsize=8)
def _capture(folder: str, pid: int) -> Environment:
    here = str(Path(folder).resolve())
    python, platform_name, packages_hash, hostname = _process_facts()
    return Environment(
        code=code_version(here),
        python=python,
        platform=platform_name,
        packages_hash=packages_hash,
        packages_artifact=PACKAGES_ARTIFACT,
        command=[sys.executable, *sys.argv],
        cwd=here,
        hostname=hostname,
        pid=pid,
    )
