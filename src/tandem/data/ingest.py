"""Getting files into a dataset version: find them, check them, hash them once, store them once.

`discover` turns a user's path into the version's files, refusing what must not be read: paths
outside the allowed roots, symbolic links, devices and pipes, empty folders. `HashCache`
remembers each file's BLAKE3 by (path, size, mtime, ctime, inode), so a file already stored is
neither read nor hashed again when it is added again. `store_file` reads a file once, hashing
and writing it into the local blob store in the same pass, and refuses a file that changed
while it was read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from tandem.core.paths import check_artifact_path
from tandem.errors import InvalidInput, NotFound, UnsafePath
from tandem.store.blobs import BlobInfo, BlobStore, LocalBlobStore
from tandem.store.oid import Oid

READ_CHUNK = 8 << 20  # 8 MiB: BLAKE3 spreads a chunk this size over every core
MAX_FILES = 100_000


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to add: its path inside the version and its identity on disk."""

    path: str  # relative POSIX path inside the version
    local: Path
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    def unchanged(self) -> bool:
        """Whether the file on disk is still the one that was discovered."""
        try:
            now = self.local.stat()
        except FileNotFoundError:
            return False
        return (now.st_size, now.st_mtime_ns, now.st_ino) == (self.size, self.mtime_ns, self.inode)


def _source(path: str, local: Path, st: os.stat_result) -> SourceFile:
    return SourceFile(path, local, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def check_inside(path: Path, roots: Sequence[Path], forbidden: Sequence[Path] = ()) -> Path:
    """`path` made absolute, if it lies inside one of `roots` and none of `forbidden`."""
    absolute = Path(os.path.abspath(path))
    if not any(absolute.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none are configured"
        raise UnsafePath(
            f"{path} is outside the folders tandem may read data from ({allowed}); "
            "set TANDEM_DATA_ROOTS to allow another"
        )
    for folder in forbidden:
        if absolute.is_relative_to(folder):
            raise UnsafePath(f"{path} is inside tandem's own workspace or blob store {folder}")
    return absolute


def discover(path: Path, roots: Sequence[Path] | None = None,
             forbidden: Sequence[Path] = ()) -> list[SourceFile]:  # fmt: skip
    """The files to add for `path`: the file itself, or every file under the folder (but
    none under `forbidden`).

    Raises:
        NotFound: nothing at `path`.
        UnsafePath: outside `roots` (when given), a symbolic link anywhere on the way, or a
            device, pipe or socket.
        InvalidInput: an empty folder, or more than MAX_FILES files.
    """
    if roots is not None:
        path = check_inside(path, roots, forbidden)
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file or folder") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symbolic link: add the file or folder it points to")
    if roots is not None and Path(os.path.realpath(path)) != path:
        raise UnsafePath(f"{path} passes through a symbolic link: give its real path")
    if stat.S_ISREG(st.st_mode):
        return [_source(_relative(path.name, path), path, st)]
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a regular file or folder")
    files: list[SourceFile] = []
    for folder, dirnames, filenames in os.walk(path, followlinks=False):
        # tandem's own workspace and blob store are never read, even inside an allowed folder
        # (a repository holds its .tandem/): their bytes belong to every project
        dirnames[:] = sorted(d for d in dirnames if Path(folder, d) not in forbidden)
        for name in dirnames:
            if os.path.islink(os.path.join(folder, name)):
                raise UnsafePath(f"{os.path.join(folder, name)} is a symbolic link")
        for name in sorted(filenames):
            local = Path(folder, name)
            entry = local.lstat()
            if stat.S_ISLNK(entry.st_mode):
                raise UnsafePath(f"{local} is a symbolic link: tandem stores files, not links")
            if not stat.S_ISREG(entry.st_mode):
                raise UnsafePath(f"{local} is not a regular file")
            files.append(
                _source(_relative(local.relative_to(path).as_posix(), local), local, entry)
            )
            if len(files) > MAX_FILES:
                raise InvalidInput(f"{path} holds more than {MAX_FILES:,} files")
    if not files:
        raise InvalidInput(f"{path} is an empty folder: there is nothing to add")
    return files


def _relative(name: str, local: Path) -> str:
    try:
        return check_artifact_path(name)
    except UnsafePath as error:
        raise UnsafePath(f"{local}: {error}") from None


class HashCache:
    """BLAKE3 digests of local files, valid while the file's size, times and inode hold.

    A small SQLite file of its own (not the workspace database): it describes files on this
    machine, whichever database the workspace uses.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def of_workspace(cls, home: Path) -> HashCache:
        """The machine's cache kept in the workspace folder `home` (one file, whichever
        database the workspace uses)."""
        return cls(home / "cache" / "file-hashes.sqlite")

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, oid TEXT)"
            )
            self._conn = conn
        return self._conn

    def get(self, file: SourceFile) -> Oid | None:
        with self._lock:
            row = (
                self._connect()
                .execute(
                    "SELECT size, mtime_ns, ctime_ns, inode, oid FROM file_hashes WHERE path = ?",
                    (str(file.local),),
                )
                .fetchone()
            )
        if row is None or tuple(row[:4]) != (file.size, file.mtime_ns, file.ctime_ns, file.inode):
            return None
        return Oid(row[4])

    def entries_under(self, folder: Path) -> dict[str, tuple[int, int, int, int, str]]:
        """Every remembered file below `folder` (absolute): path -> (size, mtime_ns,
        ctime_ns, inode, oid), in one range scan of the primary key."""
        low = str(folder).rstrip("/") + "/"
        high = low[:-1] + chr(ord("/") + 1)
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT path, size, mtime_ns, ctime_ns, inode, oid FROM file_hashes"
                    " WHERE path >= ? AND path < ?",
                    (low, high),
                )
                .fetchall()
            )
        return {row[0]: tuple(row[1:]) for row in rows}

    def put(self, files: Sequence[tuple[SourceFile, str]]) -> None:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?)",
                [(str(f.local), f.size, f.mtime_ns, f.ctime_ns, f.inode, oid) for f, oid in files],
            )
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def hash_source(file: SourceFile) -> BlobInfo:
    """BLAKE3 of a source file, refusing one that changes while it is read."""
    hasher = blake3(max_threads=blake3.AUTO) if file.size >= READ_CHUNK else blake3()
    if file.size:
        hasher.update_mmap(str(file.local))
    if not file.unchanged():
        raise InvalidInput(f"{file.local} changed while it was being added; add it again")
    return BlobInfo(Oid(hasher.hexdigest()), file.size)


def store_file(blobs: BlobStore, file: SourceFile) -> BlobInfo:
    """Store `file` in `blobs`: for a local store, read once, hashing and writing in one pass.

    Raises:
        InvalidInput: the file changed while it was read (nothing is stored then).
    """
    if not isinstance(blobs, LocalBlobStore):
        # Read twice (hash, upload), not four times: the store trusts the hash just taken,
        # and the file's size, mtime and inode, unchanged since it was found, prove the
        # upload sent those bytes. If they changed, the blob may not be what its name says.
        info = hash_source(file)
        if not blobs.exists(info.oid):
            blobs.put_file(file.local, known=info)
            if not file.unchanged():
                blobs.delete(info.oid)
                raise InvalidInput(f"{file.local} changed while it was being added; add it again")
        return info
    hasher = blake3(max_threads=blake3.AUTO) if file.size >= READ_CHUNK else blake3()
    buffer = bytearray(min(READ_CHUNK, max(file.size, 1)))
    view = memoryview(buffer)
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=blobs.tmp_dir)
    try:
        with file.local.open("rb", buffering=0) as source, os.fdopen(fd, "wb", buffering=0) as out:
            while count := source.readinto(buffer):
                chunk = view[:count]
                hasher.update(chunk)
                out.write(chunk)
                size += count
            os.fsync(out.fileno())
        if size != file.size or not file.unchanged():
            raise InvalidInput(f"{file.local} changed while it was being added; add it again")
        info = BlobInfo(Oid(hasher.hexdigest()), size)
        blobs.adopt(tmp_name, info.oid)
        return info
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
