"""Paths that come from users. An artifact path names a file inside a run; it must never be able
to name anything outside it, on the server's disk or in a download folder."""

from __future__ import annotations

import re
import unicodedata

from tandem.errors import UnsafePath

MAX_PATH_LENGTH = 1024
# A file or folder name longer than this (in UTF-8 bytes) cannot be written on ext4, APFS, NTFS
# or most other filesystems: a client could never download the artifact to a folder.
MAX_SEGMENT_BYTES = 255
_ENCODED = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_artifact_path(path: str) -> str:
    """Return `path` if it is a safe relative POSIX path, else raise UnsafePath.

    Refused: empty, absolute, `.` or `..` segments, empty segments, backslashes, Windows drives,
    percent-encoded separators or dots, control characters, over-long paths, and segments
    over 255 UTF-8 bytes (no filesystem a client downloads to could hold them).
    """
    if not path:
        raise UnsafePath("artifact path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise UnsafePath(f"artifact path is longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise UnsafePath(f"artifact path {path!r} is absolute: use a path relative to the run")
    if "\\" in path:
        raise UnsafePath(f"artifact path {path!r} has a backslash: use / between folders")
    if _DRIVE.match(path):
        raise UnsafePath(f"artifact path {path!r} names a drive")
    if _ENCODED.search(path):
        raise UnsafePath(f"artifact path {path!r} has an encoded separator, dot or NUL")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in path):
        raise UnsafePath(f"artifact path {path!r} has control characters")
    for segment in path.split("/"):
        if segment in {"", ".", ".."}:
            raise UnsafePath(
                f"artifact path {path!r} has an empty, '.' or '..' segment: "
                "it must stay inside the run"
            )
        if len(segment) > MAX_SEGMENT_BYTES // 4 and len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise UnsafePath(
                f"artifact path {path[:80]!r}... has a folder or file name of "
                f"{len(segment.encode())} bytes; the limit is {MAX_SEGMENT_BYTES} bytes (UTF-8)"
            )
    return path
