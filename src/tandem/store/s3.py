"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...), via boto3.

Objects live at `<prefix>/<oid[:2]>/<oid[2:]>`, like the local store. A blob is hashed while it
is spooled to a local temporary file, then uploaded under its final key: S3 makes an object
visible whole or not at all, so no reader ever sees half a blob, and uploading bytes that are
already there is skipped (deduplication). Every read is verified against the oid as the local
store's are: a blob up to `VERIFY_FIRST` bytes is downloaded and hashed before its first byte is
handed out; a larger one streams with its last chunk held back until the hash is checked.

Configuration: `TANDEM_ARTIFACTS=s3://bucket/prefix`; the endpoint from `TANDEM_S3_ENDPOINT_URL`
(or `AWS_ENDPOINT_URL`) for anything but AWS; credentials and region from boto3's usual chain
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, profiles, instance roles).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tandem.errors import IntegrityError, InvalidInput, NotFound, ServerError
from tandem.store.blobs import (
    CHUNK,
    VERIFY_FIRST,
    BlobInfo,
    StoredBlob,
    hash_file,
    verified_chunks,
    verified_whole,
    write_hashed,
)
from tandem.store.oid import Oid, is_oid

MULTIPART_THRESHOLD = 64 * 2**20  # larger files go up in parts of this size, in parallel
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    """Blobs in one bucket under one prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        from boto3.s3.transfer import TransferConfig

        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
        )

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """`s3://bucket/prefix`, with endpoint and credentials from the environment."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"invalid S3 location {url!r}: use s3://bucket/prefix")
        return cls(s3_client(), parsed.netloc, parsed.path)

    def _key(self, oid: str) -> str:
        name = f"{oid[:2]}/{oid[2:]}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _failed(self, action: str, exc: Exception) -> ServerError:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ServerError(f"S3 {action} in bucket {self.bucket!r} failed: {reason}")

    # -- writing --------------------------------------------------------------------------

    def put_file(self, path: Path, known: BlobInfo | None = None) -> BlobInfo:
        info = known or hash_file(path)
        if self.exists(info.oid):
            return info
        before = _identity(path)
        self._upload(path, info.oid)
        # The file must not have changed while it was uploaded. With `known`, the caller just
        # hashed it: an unchanged size, mtime and inode then prove the upload sent those bytes,
        # without reading the file a third time; without it, hash again.
        changed = _identity(path) != before if known else hash_file(path).oid != info.oid
        if changed:
            self.delete(info.oid)
            raise IntegrityError(f"{path} changed while it was being stored; try again")
        return info

    def put_stream(self, chunks: Iterable[bytes]) -> BlobInfo:
        # The oid is only known once every byte has been seen, so spool to a local temporary
        # file (in $TMPDIR) while hashing, then upload it under its final key.
        fd, name = tempfile.mkstemp(prefix="tandem-s3-")
        try:
            with os.fdopen(fd, "wb") as out:
                info = write_hashed(chunks, out)
            if not self.exists(info.oid):
                self._upload(Path(name), info.oid)
            return info
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def _upload(self, path: Path, oid: str) -> None:
        # Atomic without a rename: S3 makes an object visible only once its PUT (or the
        # completion of its multipart upload) succeeds, so a reader sees the whole blob or
        # nothing; a failed multipart upload is aborted by boto3 and leaves no object.
        try:
            self.client.upload_file(str(path), self.bucket, self._key(oid), Config=self._transfer)
        except Exception as exc:  # boto3 raises S3UploadFailedError, ClientError, ...
            raise self._failed("upload", exc) from exc

    # -- reading --------------------------------------------------------------------------

    def _head(self, oid: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._key(oid))
            return head
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._failed("lookup", exc) from exc
        except BotoCoreError as exc:
            raise self._failed("lookup", exc) from exc

    def exists(self, oid: Oid) -> bool:
        return self._head(oid) is not None

    def size(self, oid: Oid) -> int:
        head = self._head(oid)
        if head is None:
            raise NotFound(f"blob {oid} is not in the store")
        return int(head["ContentLength"])

    def read(self, oid: Oid) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._key(oid))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"blob {oid} is not in the store") from None
            raise self._failed("download", exc) from exc
        except BotoCoreError as exc:
            raise self._failed("download", exc) from exc
        chunks = self._stream(found["Body"])
        if int(found.get("ContentLength", VERIFY_FIRST + 1)) > VERIFY_FIRST:
            return verified_chunks(chunks, oid)
        return verified_whole(b"".join(chunks), oid)

    def _stream(self, body: Any) -> Iterator[bytes]:
        """The body's chunks; a connection lost mid-download becomes a ServerError."""
        from botocore.exceptions import BotoCoreError

        try:
            yield from body.iter_chunks(CHUNK)
        except BotoCoreError as exc:
            raise self._failed("download", exc) from exc
        finally:
            body.close()

    def delete(self, oid: Oid) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(oid))
        except Exception as exc:
            raise self._failed("delete", exc) from exc

    def list(self) -> Iterator[StoredBlob]:
        prefix = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    rest = item["Key"][len(prefix) :]
                    oid = rest.replace("/", "", 1) if rest[2:3] == "/" else ""
                    if is_oid(oid):
                        yield StoredBlob(Oid(oid), item["Size"], item["LastModified"].timestamp())
        except Exception as exc:
            raise self._failed("listing", exc) from exc


def s3_client() -> Any:
    """A boto3 S3 client with the endpoint and credentials from the environment."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise InvalidInput("S3 storage needs boto3: pip install 'tandem[s3]'") from None
    endpoint = os.environ.get("TANDEM_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    options: dict[str, Any] = {
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 5,
    }
    if endpoint and not os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
        # botocore >= 1.36 adds CRC checksum headers to every upload by default, which many
        # S3-compatible servers (older MinIO, Ceph, B2, ...) reject. Reads are verified
        # against the BLAKE3 oid anyway; AWS itself keeps the default.
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    try:
        config = Config(**options)
    except TypeError:  # botocore < 1.36 has neither the option nor the default
        options.pop("request_checksum_calculation", None)
        options.pop("response_checksum_validation", None)
        config = Config(**options)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=config,
    )
    return client


def _identity(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino
