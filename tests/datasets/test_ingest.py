"""Getting files in: one pass that hashes and stores, refusing a file that changes under it;
the hash cache that skips unchanged files; what discovery refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blake3 import blake3

from tandem.data.ingest import HashCache, check_inside, discover, hash_source, store_file
from tandem.errors import InvalidInput, UnsafePath
from tandem.store.blobs import LocalBlobStore


def test_store_file_hashes_and_stores_in_one_pass(tmp_path: Path) -> None:
    data = os.urandom(20 << 20)  # spans several read chunks
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.bin").write_bytes(data)
    blobs = LocalBlobStore(tmp_path / "blobs")
    [file] = discover(tmp_path / "src" / "big.bin")
    info = store_file(blobs, file)
    assert info.oid == blake3(data).hexdigest() and info.size == len(data)
    assert b"".join(blobs.read(info.oid)) == data
    assert store_file(blobs, file).oid == info.oid  # storing again changes nothing
    assert not any(blobs.tmp_dir.iterdir())


def test_a_file_that_changes_while_it_is_added_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n1,2\n")
    [file] = discover(path)
    with path.open("ab") as handle:  # appended after discovery, before storing
        handle.write(b"3,4\n")
    blobs = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(InvalidInput, match="changed while it was being added"):
        store_file(blobs, file)
    with pytest.raises(InvalidInput, match="changed while it was being added"):
        hash_source(file)
    assert list(blobs.list()) == [] and not any(blobs.tmp_dir.iterdir())


def test_the_hash_cache_holds_while_the_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"one")
    cache = HashCache(tmp_path / "cache" / "hashes.sqlite")
    [file] = discover(path)
    assert cache.get(file) is None
    oid = hash_source(file).oid
    cache.put([(file, oid)])
    [same] = discover(path)
    assert cache.get(same) == oid
    path.write_bytes(b"two")
    [changed] = discover(path)
    assert cache.get(changed) is None
    cache.close()


def test_discovery_refuses_what_it_must_not_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data" / "ok.csv").write_text("a\n1\n")
    (root / ".tandem").mkdir()
    with pytest.raises(UnsafePath, match="outside the folders"):
        check_inside(tmp_path / "elsewhere.csv", [root])
    with pytest.raises(UnsafePath, match="outside the folders"):
        discover(root / "data" / ".." / ".." / "escape.csv", [root])
    with pytest.raises(UnsafePath, match="own workspace"):
        discover(root / ".tandem", [root], forbidden=[root / ".tandem"])
    os.mkfifo(root / "data" / "pipe")
    with pytest.raises(UnsafePath, match="not a regular file"):
        discover(root / "data", [root])
    (root / "data" / "pipe").unlink()
    (root / "link").symlink_to(root / "data")
    with pytest.raises(UnsafePath, match="symbolic link"):
        discover(root / "link" / "ok.csv", [root])
    assert [f.path for f in discover(root / "data", [root])] == ["ok.csv"]
