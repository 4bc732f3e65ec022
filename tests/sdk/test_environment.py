"""The installed-package list a run records is scanned once and then read from the workspace's
cache, until the interpreter's package folders change."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from tandem.sdk import environment


def test_the_package_list_is_cached_until_a_package_folder_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(environment.CACHE, "dir", tmp_path / "cache")
    environment.package_list.cache_clear()
    scanned = environment.package_list()
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert {line.split("==")[0].lower() for line in scanned.splitlines()} == names
    [cached] = (tmp_path / "cache").glob("packages-*.txt")
    assert cached.read_text() == scanned

    cached.write_text("only==1.0\n")  # a later process reads the file instead of scanning
    environment.package_list.cache_clear()
    assert environment.package_list() == "only==1.0\n"

    folder = tmp_path / "site"  # a package folder appears or changes: scanned again
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    environment.package_list.cache_clear()
    assert environment.package_list() == scanned
    environment.package_list.cache_clear()
