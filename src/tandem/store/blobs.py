"""Content-addressed blob storage: immutable bytes named by their BLAKE3 digest (the oid).

Blobs live at `oid[:2]/oid[2:]`. `put` is idempotent (storing the same bytes twice stores them
once), writes are atomic (temporary file, fsync, rename: a crash leaves either the whole blob or
nothing under its name), and reads verify the digest. The database stores oids, never paths.

Reads never hand out unverified bytes as if they were good: a blob up to `VERIFY_FIRST` bytes
is read and hashed whole before its first byte is yielded, and a larger one is streamed with its
last chunk held back until the hash is checked, so a reader of a corrupt blob (an HTTP response
with a Content-Length, say) gets an error or an incomplete body, never the whole of wrong bytes.
The local store opens blobs without following symbolic links (`O_NOFOLLOW`, on the fan-out
directory too): something planted in the store cannot make it serve another file.

Two implementations: `LocalBlobStore` (a directory, the default) and `S3BlobStore`
(S3-compatible object storage, in `tandem.store.s3`). `open_blob_store` picks one from a setting.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from blake3 import blake3

from tandem.errors import IntegrityError, InvalidInput, NotFound
from tandem.store.oid import Oid, is_oid

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # 1 MiB: large enough that hashing, not syscalls, dominates
# Blobs up to this size are hashed whole before their first byte is handed out (at ~1 GiB/s of
# BLAKE3, a few ms of latency and 8 MiB of memory per read); larger ones stream, verified as
# they go, and a mismatch cuts the stream short before its last chunk.
VERIFY_FIRST = 8 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
# O_NONBLOCK: a FIFO planted under a blob's name must not hang the reader in open()
_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW


@dataclass(frozen=True, slots=True)
class BlobInfo:
    oid: Oid
    size: int


@dataclass(frozen=True, slots=True)
class StoredBlob:
    oid: Oid
    size: int
    modified: float  # seconds since the epoch, used by gc's grace period


def hash_file(path: Path) -> BlobInfo:
    """BLAKE3 of a file, multi-threaded via mmap for large files (~3.5 GiB/s on one core)."""
    size = path.stat().st_size
    hasher = blake3(max_threads=blake3.AUTO) if size >= 16 * CHUNK else blake3()
    if size:
        hasher.update_mmap(str(path))
    return BlobInfo(Oid(hasher.hexdigest()), size)


def check_oid(oid: str) -> Oid:
    if not is_oid(oid):
        raise InvalidInput(f"invalid blob id {oid!r}: expected 64 lowercase hex digits")
    return Oid(oid)


class BlobStore(Protocol):
    """What every blob backend provides."""

    def put_file(self, path: Path, known: BlobInfo | None = None) -> BlobInfo:
        """Store the file at `path`. `known`: its hash and size, which the caller has just
        computed, so the store does not read the file again to learn them (it still refuses a
        file that changed while it was stored)."""
        ...

    def put_stream(self, chunks: Iterable[bytes]) -> BlobInfo: ...

    def exists(self, oid: Oid) -> bool: ...

    def size(self, oid: Oid) -> int: ...

    def read(self, oid: Oid) -> Iterator[bytes]:
        """Yield the blob's bytes, verified against `oid` before they are all out: a small blob
        raises IntegrityError here, before any byte; a large one (over `VERIFY_FIRST`) raises
        it from the iterator before the last chunk."""
        ...

    def delete(self, oid: Oid) -> None: ...

    def list(self) -> Iterator[StoredBlob]: ...


class LocalBlobStore:
    """Blobs in a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, oid: Oid) -> Path:
        return self.root / oid[:2] / oid[2:]

    def _planted(self, oid: Oid, what: str) -> IntegrityError:
        # the message is public: the store's path goes to the log only
        log.error("blob store entry %s: %s; refused", self._path(oid), what)
        return IntegrityError(
            f"blob {oid} is corrupt: {what} in the store; refusing to follow it (an "
            "administrator should restore the blob)"
        )

    def _check_fanout(self, oid: Oid) -> Path:
        """The blob's fan-out directory (`oid[:2]`), refused if it is anything but a plain
        directory (a symbolic link would lead reads, writes and deletes out of the store)."""
        folder = self.root / oid[:2]
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return folder
        if not stat.S_ISDIR(mode):
            raise self._planted(oid, "a symbolic link or file stands for its directory")
        return folder

    def _lstat(self, oid: Oid) -> os.stat_result | None:
        """The blob file's own status (links not followed), None if absent; IntegrityError if
        it or its directory is not what the store writes (a regular file in a directory)."""
        self._check_fanout(oid)
        try:
            found = os.lstat(self._path(oid))
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(found.st_mode):
            raise self._planted(oid, "a symbolic link or special file stands for it")
        return found

    def _open(self, oid: Oid) -> int:
        """A descriptor on blob `oid`, opened without following a symbolic link at the
        fan-out directory or the file."""
        try:
            folder = os.open(self.root / oid[:2], _DIR_FLAGS)
        except FileNotFoundError:
            raise NotFound(f"blob {oid} is not in the store") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._planted(oid, "a symbolic link stands for its directory") from None
            raise
        try:
            fd = os.open(oid[2:], _FILE_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            raise NotFound(f"blob {oid} is not in the store") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._planted(oid, "a symbolic link stands for it") from None
            raise
        finally:
            os.close(folder)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._planted(oid, "a special file stands for it")
        return fd

    @property
    def tmp_dir(self) -> Path:
        """Where writers stage a blob before `adopt` names it (same file system as the store)."""
        return self._tmp

    def adopt(self, tmp_name: str, oid: Oid) -> None:
        """Name the fully written, fsynced file `tmp_name` (in `tmp_dir`) as blob `oid`, or
        drop it if that blob is already stored."""
        target = self._path(oid)
        folder = self._check_fanout(oid)
        with contextlib.suppress(IntegrityError):  # something planted there is replaced
            if self._lstat(oid) is not None:
                os.unlink(tmp_name)
                return
        folder.mkdir(exist_ok=True)
        os.chmod(tmp_name, 0o444)
        os.replace(tmp_name, target)
        _fsync_dir(folder)

    def local_path(self, oid: Oid) -> Path:
        """The file holding blob `oid` (readers must not write to it)."""
        if self._lstat(oid) is None:
            raise NotFound(f"blob {oid} is not in the store")
        return self._path(oid)

    def put_file(self, path: Path, known: BlobInfo | None = None) -> BlobInfo:
        info = known or hash_file(path)
        if self.exists(info.oid):
            return info
        with path.open("rb") as source:  # hashed again as it is copied: no extra read
            stored = self.put_stream(_chunks(source))
        if stored.oid != info.oid:  # the file changed while we read it
            raise IntegrityError(f"{path} changed while it was being stored; try again")
        return stored

    def put_stream(self, chunks: Iterable[bytes]) -> BlobInfo:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                info = write_hashed(chunks, out)
                out.flush()
                os.fsync(out.fileno())
            self.adopt(tmp_name, info.oid)
            return info
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def exists(self, oid: Oid) -> bool:
        try:
            return self._lstat(oid) is not None
        except IntegrityError:
            return False  # a planted entry is not the blob: storing it again replaces it

    def size(self, oid: Oid) -> int:
        found = self._lstat(oid)
        if found is None:
            raise NotFound(f"blob {oid} is not in the store")
        return found.st_size

    def read(self, oid: Oid) -> Iterator[bytes]:
        handle = os.fdopen(self._open(oid), "rb")
        try:
            if os.fstat(handle.fileno()).st_size > VERIFY_FIRST:
                return verified_chunks(_chunks(handle, close=True), oid)
            head = handle.read(VERIFY_FIRST + 1)
            if len(head) > VERIFY_FIRST:  # grew since: stream the rest, verified
                rest = _chunks(handle, close=True)
                return verified_chunks(itertools.chain([head], rest), oid)
        except BaseException:
            handle.close()
            raise
        handle.close()
        return verified_whole(head, oid)

    def delete(self, oid: Oid) -> None:
        try:
            folder = os.open(self.root / oid[:2], _DIR_FLAGS)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._planted(oid, "a symbolic link stands for its directory") from None
            raise
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(oid[2:], dir_fd=folder)  # a planted link goes, not what it points at
        finally:
            os.close(folder)

    def list(self) -> Iterator[StoredBlob]:
        for prefix in self.root.iterdir():
            if len(prefix.name) != 2 or prefix.is_symlink() or not prefix.is_dir():
                continue
            for entry in os.scandir(prefix):
                oid = prefix.name + entry.name
                if is_oid(oid):
                    found = entry.stat(follow_symlinks=False)
                    yield StoredBlob(Oid(oid), found.st_size, found.st_mtime)


def write_hashed(chunks: Iterable[bytes], out: BinaryIO) -> BlobInfo:
    """Write `chunks` to `out` while hashing them: the oid and size of what was written."""
    hasher = blake3()
    size = 0
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return BlobInfo(Oid(hasher.hexdigest()), size)


def _chunks(handle: BinaryIO, close: bool = False) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        if close:
            handle.close()


def _mismatch(oid: str) -> IntegrityError:
    return IntegrityError(f"blob {oid} is corrupt: its bytes no longer match its hash")


def verified_whole(data: bytes, oid: str) -> Iterator[bytes]:
    """`data`, all of blob `oid`, in chunks once its hash is checked; IntegrityError (raised
    here, before any byte is handed out) if it does not match."""
    if blake3(data).hexdigest() != oid:
        raise _mismatch(oid)
    return (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))


def verified_chunks(chunks: Iterable[bytes], oid: str) -> Iterator[bytes]:
    """Yield `chunks` (all of blob `oid`) while hashing them, holding the last chunk back until
    the hash is checked: on a mismatch IntegrityError is raised before it, so the reader never
    gets the whole blob (an HTTP response is cut short of its Content-Length)."""
    hasher = blake3()
    pending: bytes | None = None
    for chunk in chunks:
        hasher.update(chunk)
        if pending is not None:
            yield pending
        pending = chunk
    if hasher.hexdigest() != oid:
        raise _mismatch(oid)
    if pending is not None:
        yield pending


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_blob_store(location: str) -> BlobStore:
    """A local directory path, or `s3://bucket/prefix` (needs the `s3` extra)."""
    if location.startswith("s3://"):
        from tandem.store.s3 import S3BlobStore

        store: BlobStore = S3BlobStore.from_url(location)
        return store
    if "://" in location:
        raise InvalidInput(
            f"unsupported artifact location {location!r}: use a local path or s3://bucket/prefix"
        )
    return LocalBlobStore(Path(location))
