"""What an artifact may be previewed as. Images are recognised by their magic bytes only (never
by name or by what a browser would sniff), and only raster formats a browser cannot run code
in: SVG and HTML are shown as escaped text, never rendered.

Nothing is shown before the blob is verified: `read_head` reads the blob to its end (the store's
reader checks the hash there) before its head is classified, and a blob that fails verification
is previewed as an error (`failed`), not as its wrong bytes or a server error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tandem.errors import IntegrityError

TEXT_LIMIT = 100 * 1024
# A preview verifies the whole blob before showing its head: past this size a page view would
# read (and hash) too much, so such files are only offered for download.
PREVIEW_MAX_BYTES = 64 * 2**20

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(head: bytes) -> str | None:
    """The image content type the first bytes prove, or None."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Preview:
    kind: str  # "image", "text", "binary" or "error" (text says what went wrong)
    text: str = ""
    truncated: bool = False


def failed(error: IntegrityError) -> Preview:
    """The preview of a blob that failed verification: what is wrong, not its bytes."""
    return Preview("error", f"the stored file failed verification. {error.message}")


def too_large(size: int) -> Preview:
    """The preview of a file too large to verify for a page view."""
    return Preview(
        "error",
        f"the file is {size:,} bytes, more than the {PREVIEW_MAX_BYTES // 2**20} MiB previewed "
        "here: download it instead",
    )


def read_head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes from `chunks`, and whether there was more. Reads `chunks` to the end,
    so the store's reader has verified the whole blob (else raised IntegrityError) before any
    of it is shown."""
    buffer = bytearray()
    truncated = False
    for chunk in chunks:
        if len(buffer) <= limit:
            buffer += chunk
        else:
            truncated = True
    if len(buffer) > limit:
        return bytes(buffer[:limit]), True
    return bytes(buffer), truncated


def peek(chunks: Iterator[bytes], at_least: int = 16) -> bytes:
    """The first chunks, whole, until there are `at_least` bytes: enough to see the magic."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= at_least:
            break
    return bytes(buffer)


def classify(head: bytes, truncated: bool) -> Preview:
    """An image, text (valid UTF-8 without NUL bytes), or something to download instead."""
    if image_type(head):
        return Preview("image")
    if b"\x00" in head:
        return Preview("binary")
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(head) - 3:  # a cut multi-byte character is fine
            return Preview("binary")
        decoded = head[: exc.start].decode("utf-8")
    return Preview("text", decoded, truncated)
